import CloudcCore
import Foundation
import SSH

/// A node's shell, with `sudo` where the login user is not root.
struct NodeShell: Sendable {
    let shell: any RemoteShell
    let sudo: Bool

    /// Runs `script` with `sh`, the script on stdin (never on the command line).
    func run(_ script: String) async throws -> ExecResult {
        try await shell.exec((sudo ? "sudo -n " : "") + "sh -s", stdin: Array(script.utf8), onOutput: nil)
    }
}

func splitOwner(_ owner: String) -> (String, String?) {
    let parts = owner.split(separator: ":", maxSplits: 1).map(String.init)
    return (parts.first ?? "root", parts.count > 1 ? parts[1] : nil)
}

/// One role on one node: at most two scripts, each one exec (`RoleScript`).
struct NodeRunner: Sendable {
    let node: SetupNode
    let role: Playbook.Role
    let shell: NodeShell
    /// The node is one of the user's own machines: setup records what it changes (`RoleScript.recordFolder`).
    var record = false
    /// Where `src:` paths are read from.
    var playbookDirectory = ""

    struct Prepared: Sendable {
        var node: String
        var facts: [String: String]
        var outcome: NodeOutcome
    }

    /// Whether the role gathers facts, which files may use: then packages and facts run first,
    /// on all of the role's nodes, and the rest after.
    var hasFacts: Bool { !role.facts.isEmpty }

    /// Packages, then facts: one script.
    func prepare(context: SetupContext) async -> Prepared {
        var outcome = NodeOutcome(node: node.name)
        var facts: [String: String] = [:]
        do {
            try checkPackageNames()
            var script = RoleScript(record: record)
            script.packages(role.packages)
            let values = context.values(for: node)
            var names: [Int: String] = [:]
            for fact in role.facts {
                let rendered = try Template(name: "fact \(fact.name) of role \(role.name)", source: fact.command).render(values)
                names[script.steps.count] = fact.name
                script.fact(fact.name, rendered)
            }
            let result = try await run(script, &outcome)
            for (index, text) in result.facts {
                guard let name = names[index] else { continue }
                facts[name] = text.trimmingCharacters(in: .whitespacesAndNewlines)
                outcome.ok += 1
            }
        } catch {
            outcome.failure = failure("packages and facts", error)
        }
        return Prepared(node: node.name, facts: facts, outcome: outcome)
    }

    /// Files, commands, services, restarts (and packages, when `prepare` did not run): one script.
    func apply(context: SetupContext, templates: TemplateStore, after prepared: NodeOutcome) async -> NodeOutcome {
        var outcome = prepared
        var step = "files"
        do {
            let values = context.values(for: node)
            var script = RoleScript(record: record)
            if !hasFacts {
                try checkPackageNames()
                script.packages(role.packages)
            }
            let files = try wantedFiles(values: values, secrets: context.target.secrets, templates: templates)
            script.folders(Set(files.map { ($0.0.dest as NSString).deletingLastPathComponent }).sorted())
            for (file, bytes) in files { script.file(bytes, dest: file.dest, mode: file.mode, owner: file.owner) }
            for command in role.commands {
                step = command.name
                guard try SetupContext.holds(command.when, in: values, role: role.name) else { continue }
                script.command(command, run: try render(command.run, values, what: "run of \(command.name)"),
                               unless: try command.unless.map { try render($0, values, what: "unless of \(command.name)") },
                               check: try command.check.map { try render($0, values, what: "check of \(command.name)") })
            }
            for service in role.services { script.service(service) }
            for service in role.restart { script.restart(service) }
            step = "script"
            guard !script.steps.isEmpty else { return outcome }
            _ = try await run(script, &outcome)
        } catch {
            outcome.failure = failure(step, error)
        }
        return outcome
    }

    /// Runs a script and adds what it reported to `outcome`.
    private func run(_ script: RoleScript, _ outcome: inout NodeOutcome) async throws -> RoleScriptResult {
        let exec = try await shell.run(script.script)
        let result = RoleScriptResult(stdout: exec.stdout, steps: script.steps)
        outcome.ok += result.ok
        outcome.changed += result.changed
        if let failed = result.failed {
            outcome.failure = SetupFailure(node: node.name, role: role.name,
                                           step: script.steps.indices.contains(failed.index) ? script.steps[failed.index] : "?",
                                           status: failed.status, stderrTail: failed.tail)
        } else if exec.status != 0 || !exec.stdout.contains(RoleScript.marker) && !script.steps.isEmpty {
            // The shell itself failed (sudo asked for a password, no sh): no step reported.
            var tail = SetupFailure.tail(exec.stderr)
            if tail.isEmpty { tail = SetupFailure.tail(exec.stdout) }
            outcome.failure = SetupFailure(node: node.name, role: role.name, step: "run the role's script",
                                           status: exec.status, stderrTail: tail)
        }
        return result
    }

    private func checkPackageNames() throws {
        for package in role.packages where package.range(of: #"^[a-z0-9][a-z0-9.+-]*$"#, options: .regularExpression) == nil {
            throw CloudcError(.config, "role \(role.name): '\(package)' is not a Debian package name")
        }
    }

    /// `apt_waiting CMD…` runs an apt command, and again every 5 s for up to 10 minutes while
    /// another apt holds its lock (unattended-upgrades and apt-daily run at a VM's first boot);
    /// any other failure is final at once.
    static let waitingForAptLocks = """
        apt_waiting() { n=0; while :; do out=$("$@" 2>&1); rc=$?; printf '%s\\n' "$out"; [ $rc -eq 0 ] && return 0; \
        case "$out" in *"Could not get lock"*|*"Unable to acquire the dpkg frontend lock"*|*"Unable to lock directory"*) \
        n=$((n+1)); [ $n -ge 120 ] && return $rc; echo "waiting for another apt to finish"; sleep ${APT_LOCK_PAUSE:-5};; *) return $rc;; esac; done; }; 
        """

    /// Every file of the role with its bytes, destinations rendered.
    private func wantedFiles(values: [String: TemplateValue], secrets: [String: SecretFile],
                             templates: TemplateStore) throws -> [(Playbook.FileStep, [UInt8])] {
        var wanted: [(Playbook.FileStep, [UInt8])] = []
        for var file in role.files {
            file.dest = try render(file.dest, values, what: "dest of a file")
            switch file.source {
            case .template(let name):
                wanted.append((file, Array(try templates.template(name).render(values).utf8)))
            case .secret(let name):
                guard let secret = secrets[name] else {
                    throw CloudcError(.config, "role \(role.name) wants secret '\(name)', which cloudc does not make",
                                      fix: "use one of: \(secrets.keys.sorted().joined(separator: ", "))")
                }
                wanted.append((file, secret.bytes))
            case .copy(let path):
                let full = path.hasPrefix("/") || playbookDirectory.isEmpty ? path : playbookDirectory + "/" + path
                guard let data = FileManager.default.contents(atPath: full) else {
                    throw CloudcError(.config, "role \(role.name): cannot read src \(full)")
                }
                wanted.append((file, [UInt8](data)))
            }
        }
        return wanted
    }

    // MARK: Failures

    private func render(_ source: String, _ values: [String: TemplateValue], what: String) throws -> String {
        try Template(name: "\(what) (role \(role.name))", source: source).render(values)
    }

    private func failure(_ step: String, _ error: Error) -> SetupFailure {
        SetupFailure(node: node.name, role: role.name, step: step, status: -1, stderrTail: ["\(error)"])
    }
}
