import CloudcCore
import Crypto
import Foundation
import SSH

/// A node's shell, with `sudo` where the login user is not root.
struct NodeShell: Sendable {
    let shell: any RemoteShell
    let sudo: Bool

    func run(_ script: String) async throws -> ExecResult {
        let command = (sudo ? "sudo -n " : "") + "sh -c " + Shell.quote(script)
        return try await shell.exec(command, stdin: nil, onOutput: nil)
    }

    /// Writes a file with its mode and owner; through a private temporary file and `install` with sudo.
    func put(_ bytes: [UInt8], to path: String, mode: Int32, owner: String) async throws {
        guard sudo else {
            try await shell.upload(bytes, to: path, mode: mode, owner: owner)
            return
        }
        let staging = "/tmp/cloudc-\(UUID().uuidString.lowercased())"
        try await shell.upload(bytes, to: staging, mode: 0o600, owner: nil)
        let (user, group) = splitOwner(owner)
        let result = try await run("install -m \(String(mode, radix: 8)) -o \(Shell.quote(user))"
                                   + (group.map { " -g \(Shell.quote($0))" } ?? "")
                                   + " \(staging) \(Shell.quote(path)); status=$?; rm -f \(staging); exit $status")
        guard result.status == 0 else {
            throw CloudcError(.remote, "could not install \(path) on \(shell.endpoint.host)",
                              cause: SetupFailure.tail(result.stderr, lines: 3).joined(separator: " "))
        }
    }
}

func splitOwner(_ owner: String) -> (String, String?) {
    let parts = owner.split(separator: ":", maxSplits: 1).map(String.init)
    return (parts.first ?? "root", parts.count > 1 ? parts[1] : nil)
}

/// One role on one node.
struct NodeRunner: Sendable {
    let node: SetupNode
    let role: Playbook.Role
    let shell: NodeShell

    struct Prepared: Sendable {
        var node: String
        var facts: [String: String]
        var outcome: NodeOutcome
    }

    /// Packages, then facts.
    func prepare(context: SetupContext) async -> Prepared {
        var outcome = NodeOutcome(node: node.name)
        var facts: [String: String] = [:]
        do {
            if !role.packages.isEmpty { try await ensurePackages(&outcome) }
            let values = context.values(for: node)
            for fact in role.facts where outcome.failure == nil {
                let name = fact.name
                let rendered = try Template(name: "fact \(name) of role \(role.name)", source: fact.command).render(values)
                let result = try await shell.run(rendered)
                guard result.status == 0 else {
                    outcome.failure = failure("fact \(name): \(rendered)", result)
                    break
                }
                facts[name] = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                outcome.ok += 1
            }
        } catch {
            outcome.failure = failure("packages and facts", error)
        }
        return Prepared(node: node.name, facts: facts, outcome: outcome)
    }

    /// Files, commands, services, restarts.
    func apply(context: SetupContext, templates: TemplateStore, after prepared: NodeOutcome) async -> NodeOutcome {
        var outcome = prepared
        var step = "files"
        do {
            let values = context.values(for: node)
            let filesChanged = try await ensureFiles(values: values, secrets: context.target.secrets,
                                                     templates: templates, &outcome)
            for command in role.commands {
                step = command.name
                guard try SetupContext.holds(command.when, in: values, role: role.name) else { continue }
                if let unless = command.unless {
                    let check = try await shell.run(try render(unless, values, what: "unless of \(command.name)"))
                    if check.status == 0 { outcome.ok += 1; continue }
                }
                let result = try await shell.run(try render(command.run, values, what: "run of \(command.name)"))
                guard result.status == 0 else {
                    outcome.failure = failure(command.name, result)
                    return outcome
                }
                outcome.changed.append(command.name)
            }
            step = "services"
            let started = try await ensureServices(&outcome)
            if let failed = outcome.failure, failed.step.hasPrefix("start") { return outcome }
            if filesChanged {
                for service in role.restart where !started.contains(service) {
                    step = "restart \(service)"
                    let result = try await shell.run("systemctl restart \(Shell.quote(service))")
                    guard result.status == 0 else {
                        outcome.failure = await serviceFailure(step, service, result)
                        return outcome
                    }
                    outcome.changed.append("restart \(service)")
                }
            }
        } catch {
            outcome.failure = failure(step, error)
        }
        return outcome
    }

    // MARK: Steps

    private func ensurePackages(_ outcome: inout NodeOutcome) async throws {
        for package in role.packages where package.range(of: #"^[a-z0-9][a-z0-9.+-]*$"#, options: .regularExpression) == nil {
            throw CloudcError(.config, "role \(role.name): '\(package)' is not a Debian package name")
        }
        let query = try await shell.run("dpkg-query -W -f='${Package} ${db:Status-Status}\\n' "
                                        + role.packages.joined(separator: " ") + " 2>/dev/null; true")
        let installed = Set(query.stdout.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: " ")
            return parts.count == 2 && parts[1] == "installed" ? String(parts[0]) : nil
        })
        let missing = role.packages.filter { !installed.contains($0) }
        outcome.ok += role.packages.count - missing.count
        guard !missing.isEmpty else { return }
        let list = missing.joined(separator: " ")
        let install = "env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold \(list)"
        let result = try await shell.run(Self.waitingForAptLocks + "apt_waiting \(install) || { apt_waiting apt-get update -q && apt_waiting \(install); }")
        guard result.status == 0 else {
            outcome.failure = failure("install \(list)", result)
            return
        }
        outcome.changed.append("install \(list)")
    }

    /// `apt_waiting CMD…` runs an apt command, and again every 5 s for up to 10 minutes while
    /// another apt holds its lock (unattended-upgrades and apt-daily run at a VM's first boot);
    /// any other failure is final at once.
    static let waitingForAptLocks = """
        apt_waiting() { n=0; while :; do out=$("$@" 2>&1); rc=$?; printf '%s\\n' "$out"; [ $rc -eq 0 ] && return 0; \
        case "$out" in *"Could not get lock"*|*"Unable to acquire the dpkg frontend lock"*|*"Unable to lock directory"*) \
        n=$((n+1)); [ $n -ge 120 ] && return $rc; echo "waiting for another apt to finish"; sleep ${APT_LOCK_PAUSE:-5};; *) return $rc;; esac; done; }; 
        """

    /// Uploads the files whose content, mode or owner differ; true when any did.
    private func ensureFiles(values: [String: TemplateValue], secrets: [String: SecretFile],
                             templates: TemplateStore, _ outcome: inout NodeOutcome) async throws -> Bool {
        guard !role.files.isEmpty else { return false }
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
            }
        }
        // One round trip: make the folders, then hash and stat every destination.
        let dirs = Set(wanted.map { ($0.0.dest as NSString).deletingLastPathComponent }).sorted()
        var script = "mkdir -p " + dirs.map(Shell.quote).joined(separator: " ") + "\n"
        for (file, _) in wanted {
            let q = Shell.quote(file.dest)
            script += "if [ -f \(q) ]; then echo \"$(sha256sum < \(q) | cut -d' ' -f1) $(stat -c '%a %U:%G' \(q))\"; else echo missing; fi\n"
        }
        let check = try await shell.run(script)
        guard check.status == 0 else {
            outcome.failure = failure("check files", check)
            return false
        }
        let seen = check.stdout.split(separator: "\n").map(String.init)
        var changed = false
        for (index, (file, bytes)) in wanted.enumerated() {
            let digest = Hex.encode(SHA256.hash(data: bytes))
            let (user, group) = splitOwner(file.owner)
            let parts = index < seen.count ? seen[index].split(separator: " ").map(String.init) : []
            let same = parts.count == 3 && parts[0] == digest && Int32(parts[1], radix: 8) == file.mode
                && parts[2].split(separator: ":").first.map(String.init) == user
                && (group == nil || parts[2].split(separator: ":").last.map(String.init) == group)
            if same { outcome.ok += 1; continue }
            try await shell.put(bytes, to: file.dest, mode: file.mode, owner: file.owner)
            outcome.changed.append(file.dest)
            changed = true
        }
        return changed
    }

    /// Enables and starts the role's services; returns the ones it started.
    private func ensureServices(_ outcome: inout NodeOutcome) async throws -> Set<String> {
        var started = Set<String>()
        for service in role.services {
            let q = Shell.quote(service)
            let check = try await shell.run("systemctl is-enabled --quiet \(q) && systemctl is-active --quiet \(q)")
            if check.status == 0 { outcome.ok += 1; continue }
            let result = try await shell.run("systemctl enable --quiet \(q) && systemctl restart \(q)")
            guard result.status == 0 else {
                outcome.failure = await serviceFailure("start \(service)", service, result)
                return started
            }
            outcome.changed.append("start \(service)")
            started.insert(service)
        }
        return started
    }

    /// A failed start or restart, with the service's own last log lines (its stderr rarely says why).
    private func serviceFailure(_ step: String, _ service: String, _ result: ExecResult) async -> SetupFailure {
        var failed = failure(step, result)
        if let log = try? await shell.run("journalctl -u \(Shell.quote(service)) -n 8 --no-pager -o cat 2>&1") {
            failed.stderrTail += SetupFailure.tail(log.stdout)
        }
        return failed
    }

    // MARK: Failures

    private func render(_ source: String, _ values: [String: TemplateValue], what: String) throws -> String {
        try Template(name: "\(what) (role \(role.name))", source: source).render(values)
    }

    private func failure(_ step: String, _ result: ExecResult) -> SetupFailure {
        var tail = SetupFailure.tail(result.stderr)
        if tail.isEmpty { tail = SetupFailure.tail(result.stdout) }
        return SetupFailure(node: node.name, role: role.name, step: step, status: result.status, stderrTail: tail)
    }

    private func failure(_ step: String, _ error: Error) -> SetupFailure {
        SetupFailure(node: node.name, role: role.name, step: step, status: -1, stderrTail: ["\(error)"])
    }
}
