import CloudcCore
import Foundation
import Yams

/// A setup recipe: roles run in order, each on the nodes it names.
///
/// ```yaml
/// roles:
///   - name: munge
///     hosts: [all]                 # all, frontend, workers, or group names
///     when: "!shared_storage"      # optional: a template value; "!" negates
///     packages: [munge]            # installed unless already present
///     facts:                       # stdout of each command, kept per node as node.facts.NAME
///       hardware: slurmd -C
///     files:                       # rendered from templates/ (or a generated secret), uploaded if different
///       - {template: munge.key, dest: /etc/munge/munge.key, mode: "0400", owner: "munge:munge"}
///     commands:                    # run in order; `unless` exiting 0 means "already done"
///       - {name: make spool dir, run: "mkdir -p /var/spool/slurm", unless: "test -d /var/spool/slurm"}
///       - {name: hostname holds, check: "test \"$(hostname)\" = {{node.host}}"}   # must hold; changes nothing
///       - {name: reload, run: "kill -HUP …", on_change: true}   # only when a file of this role changed
///     services: [munge]            # enabled and started
///     restart: [munge]             # restarted when a file of this role changed on the node
/// ```
public struct Playbook: Sendable, Equatable {
    public var name: String
    public var roles: [Role]
    /// The folder the playbook file is in: where a file's `src:` path is taken from.
    public var directory: String = ""

    public struct Role: Sendable, Equatable {
        public var name: String
        public var hosts: [String]
        public var when: String?
        public var packages: [String] = []
        public var facts: [Fact] = []
        public var files: [FileStep] = []
        public var commands: [CommandStep] = []
        public var services: [String] = []
        public var restart: [String] = []
    }

    /// A command whose output is kept per node as `node.facts.NAME`.
    public struct Fact: Sendable, Equatable {
        public var name: String
        public var command: String
    }

    public struct FileStep: Sendable, Equatable {
        public enum Source: Sendable, Equatable {
            case template(String)   // a file of templates/
            case secret(String)     // a secret cloudc generated for the cluster (never shown)
            case copy(String)       // a file of this machine, copied byte for byte (`src:`)
        }
        public var source: Source
        public var dest: String
        public var mode: Int32
        public var owner: String
    }

    public struct CommandStep: Sendable, Equatable {
        public var name: String
        /// What changes the node; empty for a check.
        public var run: String
        public var unless: String?
        public var when: String?
        /// A condition that must hold on the node (exit 0), else setup fails: run every time,
        /// never a change.
        public var check: String?
        /// Runs only when a file of this role changed on the node (a handler).
        public var onChange: Bool = false
    }
}

// MARK: - Loading

extension Playbook {
    /// Loads `<directory>/<name>.yaml`.
    /// Finds (and compiles) every template the playbook's files name, so a missing or broken one
    /// is said before setup touches a node. `file`: the playbook, for the message.
    public func checkTemplates(in store: TemplateStore, file: String) throws {
        for role in roles {
            for step in role.files {
                if case .copy(let path) = step.source {
                    guard FileManager.default.isReadableFile(atPath: sourcePath(path)) else {
                        throw CloudcError(.config, "\(file): role '\(role.name)': cannot read src \(sourcePath(path))",
                                          fix: "put the file there, or fix the `src:` path (relative paths are taken from the playbook's folder)")
                    }
                    continue
                }
                guard case .template(let name) = step.source else { continue }
                do {
                    _ = try store.template(name)
                } catch let error as CloudcError {
                    throw CloudcError(error.code, "\(file): role '\(role.name)': \(error.message)", fix: error.fix, cause: error.cause)
                }
            }
        }
    }

    /// A `src:` path as read: absolute, or taken from the playbook's folder.
    public func sourcePath(_ path: String) -> String {
        path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path
    }

    public static func load(name: String, directory: String) throws -> Playbook {
        let path = directory + "/" + name + ".yaml"
        guard let data = FileManager.default.contents(atPath: path) else {
            let known = (try? FileManager.default.contentsOfDirectory(atPath: directory))?
                .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted() ?? []
            throw CloudcError(.config, "no playbook '\(name)': \(path) does not exist",
                              fix: known.isEmpty ? "set CLOUDC_PLAYBOOKS to the folder holding the playbooks"
                                                 : "use one of: \(known.joined(separator: ", "))")
        }
        var playbook = try parse(String(decoding: data, as: UTF8.self), name: name, file: path)
        playbook.directory = directory
        return playbook
    }

    public static func parse(_ text: String, name: String, file: String) throws -> Playbook {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw CloudcError(.config, "\(file): not valid YAML", fix: "fix the syntax", cause: "\(error)")
        }
        let reader = Reader(file: file)
        guard let root, let top = root.mapping else { throw reader.error(root, "the playbook must be a mapping with a 'roles:' list") }
        try reader.onlyKeys(top, ["roles"], at: "top level")
        guard let rolesNode = top["roles"], let roles = rolesNode.sequence else {
            throw reader.error(root, "'roles:' must be a list of roles")
        }
        var parsed: [Role] = []
        for roleNode in roles {
            let role = try reader.role(roleNode)
            if parsed.contains(where: { $0.name == role.name }) {
                throw reader.error(roleNode, "role '\(role.name)' appears twice")
            }
            parsed.append(role)
        }
        return Playbook(name: name, roles: parsed)
    }

    struct Reader {
        let file: String

        func error(_ node: Node?, _ message: String, fix: String = "see the format at the top of playbooks/slurm.yaml") -> CloudcError {
            let place = node?.mark.map { "\(file):\($0.line):\($0.column)" } ?? file
            return CloudcError(.config, "\(place): \(message)", fix: fix)
        }

        func onlyKeys(_ map: Node.Mapping, _ allowed: [String], at place: String) throws {
            for (key, _) in map {
                guard let k = key.string, allowed.contains(k) else {
                    throw error(key, "unknown key '\(key.string ?? "?")' in \(place)", fix: "allowed keys: \(allowed.joined(separator: ", "))")
                }
            }
        }

        func text(_ node: Node?, _ what: String) throws -> String {
            guard let node, let s = node.scalar?.string else { throw error(node, "\(what) must be text") }
            return s
        }

        func list(_ node: Node?, _ what: String) throws -> [String] {
            guard let node else { return [] }
            if let s = node.scalar?.string { return [s] }
            guard let seq = node.sequence else { throw error(node, "\(what) must be a list") }
            return try seq.map { try text($0, "each entry of \(what)") }
        }

        func role(_ node: Node) throws -> Role {
            guard let map = node.mapping else { throw error(node, "each role must be a mapping with at least 'name' and 'hosts'") }
            try onlyKeys(map, ["name", "hosts", "when", "packages", "facts", "files", "commands", "services", "restart"], at: "a role")
            let name = try text(map["name"], "a role's name")
            var role = Role(name: name, hosts: try list(map["hosts"], "hosts"))
            guard !role.hosts.isEmpty else { throw error(node, "role '\(name)' names no hosts", fix: "add e.g. hosts: [all]") }
            role.when = try map["when"].map { try text($0, "when") }
            role.packages = try list(map["packages"], "packages")
            if let facts = map["facts"] {
                guard let fm = facts.mapping else { throw error(facts, "facts must map a name to a command") }
                role.facts = try fm.map { Fact(name: try text($0.key, "a fact name"), command: try text($0.value, "a fact command")) }
            }
            for f in map["files"]?.sequence ?? [] { role.files.append(try file(f, role: name)) }
            if let files = map["files"], files.sequence == nil { throw error(files, "files must be a list") }
            for c in map["commands"]?.sequence ?? [] { role.commands.append(try command(c)) }
            if let cmds = map["commands"], cmds.sequence == nil { throw error(cmds, "commands must be a list") }
            role.services = try list(map["services"], "services")
            role.restart = try list(map["restart"], "restart")
            for service in role.restart where !role.services.contains(service) {
                throw error(map["restart"], "role '\(name)' restarts '\(service)' without managing it",
                            fix: "add '\(service)' to the role's services")
            }
            return role
        }

        func file(_ node: Node, role: String) throws -> FileStep {
            guard let map = node.mapping else { throw error(node, "each file must be a mapping with 'template' (or 'secret') and 'dest'") }
            try onlyKeys(map, ["template", "secret", "src", "dest", "mode", "owner"], at: "a file")
            let source: FileStep.Source
            switch (map["template"], map["secret"], map["src"]) {
            case (let t?, nil, nil): source = .template(try text(t, "template"))
            case (nil, let s?, nil): source = .secret(try text(s, "secret"))
            case (nil, nil, let c?): source = .copy(try text(c, "src"))
            default: throw error(node, "a file needs exactly one of 'template', 'secret' and 'src'")
            }
            let dest = try text(map["dest"], "dest")
            guard dest.hasPrefix("/") else { throw error(map["dest"], "dest must be an absolute path") }
            let modeText = try map["mode"].map { try text($0, "mode") } ?? "0644"
            guard let mode = Int32(modeText, radix: 8), (0...0o7777).contains(mode) else {
                throw error(map["mode"], "mode '\(modeText)' is not an octal file mode", fix: "quote it, e.g. mode: \"0644\"")
            }
            let owner = try map["owner"].map { try text($0, "owner") } ?? "root:root"
            return FileStep(source: source, dest: dest, mode: mode, owner: owner)
        }

        func command(_ node: Node) throws -> CommandStep {
            guard let map = node.mapping else { throw error(node, "each command must be a mapping with 'name' and 'run'") }
            try onlyKeys(map, ["name", "run", "unless", "when", "check", "on_change"], at: "a command")
            let name = try text(map["name"], "a command's name")
            var step = CommandStep(name: name, run: "", unless: try map["unless"].map { try text($0, "unless") },
                                   when: try map["when"].map { try text($0, "when") },
                                   check: try map["check"].map { try text($0, "check") })
            switch (map["run"], step.check) {
            case (let run?, nil): step.run = try text(run, "run")
            case (nil, _?):
                if let unless = map["unless"] { throw error(unless, "command '\(name)' is a check: 'unless' is for 'run'") }
            default: throw error(node, "command '\(name)' needs exactly one of 'run' and 'check'")
            }
            if let flag = map["on_change"] {
                guard let value = flag.scalar.flatMap({ Bool($0.string) }) else { throw error(flag, "on_change must be true or false") }
                guard step.check == nil else { throw error(flag, "command '\(name)' is a check: 'on_change' is for 'run'") }
                step.onChange = value
            }
            return step
        }
    }
}
