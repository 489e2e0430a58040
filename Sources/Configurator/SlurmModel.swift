import CloudcCore

/// The SLURM view of a cluster, built from the nodes' facts: what slurm.conf and gres.conf say.
///
/// Pure: the configurator gathers `slurmd -C` and the GPU device list on each worker, and this
/// turns them into node lines, partitions (one per node group) and GRES entries.
public struct SlurmModel: Sendable, Equatable {
    public struct NodeLine: Sendable, Equatable {
        public var name: String
        public var address: String
        /// `CPUs=… Boards=… SocketsPerBoard=… CoresPerSocket=… ThreadsPerCore=… RealMemory=…`
        public var hardware: String
        public var gpuDevices: [String]
        /// The machine's own short hostname, where it differs from the node's name (an own
        /// machine keeps its hostname): slurmd finds its node line by it (`NodeHostname=`).
        public var hostname: String? = nil
        public var gres: String? { gpuDevices.isEmpty ? nil : "gpu:\(gpuDevices.count)" }
    }
    public struct Partition: Sendable, Equatable {
        public var name: String
        public var nodes: [String]
        public var isDefault: Bool
    }

    public var nodes: [NodeLine]
    public var partitions: [Partition]
    public var hasGPUs: Bool { nodes.contains { !$0.gpuDevices.isEmpty } }

    /// The keys of `slurmd -C` that describe hardware (NodeName and UpTime are not).
    static let hardwareKeys = ["CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory"]

    /// Reads the first line of `slurmd -C` (`NodeName=x CPUs=2 … RealMemory=24105`). What a node
    /// prints lands in every node's slurm.conf, so only whole numbers are taken: a value with
    /// anything else (a `\r`, a newline, another key) is refused, not copied.
    public static func parseHardware(_ output: String, node: String) throws -> String {
        // Split on every kind of line end: `\r\n` is one Character in Swift, and `\r` alone ends a line too.
        guard let line = output.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("NodeName=") }) else {
            throw CloudcError(.remote, "\(node): `slurmd -C` printed no NodeName line",
                              fix: "check that slurmd is installed on \(node) and runs (`slurmd -C`)",
                              cause: String(output.prefix(200)))
        }
        var values: [String: String] = [:]
        for field in line.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, hardwareKeys.contains(pair[0]) else { continue }
            guard let number = UInt64(pair[1]), number > 0 || pair[0] == "Boards" else {
                throw CloudcError(.remote, "\(node): `slurmd -C` reported \(pair[0])=\(String(reflecting: pair[1])), not a whole number",
                                  fix: "check slurmd on \(node) (`slurmd -C` prints numbers only)")
            }
            values[pair[0]] = String(number)
        }
        let missing = ["CPUs", "RealMemory"].filter { values[$0] == nil }
        guard missing.isEmpty else {
            throw CloudcError(.remote, "\(node): `slurmd -C` did not report \(missing.joined(separator: ", "))",
                              fix: "check slurmd on \(node)", cause: String(line.prefix(200)))
        }
        return hardwareKeys.compactMap { key in values[key].map { "\(key)=\($0)" } }.joined(separator: " ")
    }

    /// A node's `hostname -s`, as slurm.conf may carry it: a host name, nothing else.
    public static func parseHostname(_ output: String, node: String) throws -> String {
        let name = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard name.range(of: #"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$"#, options: .regularExpression) != nil else {
            throw CloudcError(.remote, "\(node): its hostname \(String(reflecting: name)) is not a host name SLURM can use",
                              fix: "give the machine a plain hostname (letters, digits and '-')")
        }
        return name
    }

    /// Device paths from the GPU detection fact: one `/dev/nvidiaN` per line, sorted by N.
    public static func parseGPUDevices(_ output: String) -> [String] {
        output.split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.range(of: #"^/dev/nvidia[0-9]+$"#, options: .regularExpression) != nil }
            .sorted { (Int($0.dropFirst("/dev/nvidia".count)) ?? 0) < (Int($1.dropFirst("/dev/nvidia".count)) ?? 0) }
    }

    /// Worker groups in spec order, each with its nodes; the first group with nodes is the default partition.
    public init(workers: [(group: String, nodes: [(name: String, address: String, hardwareFact: String?, gpuFact: String?)])],
                hostnames: [String: String] = [:]) throws {
        var lines: [NodeLine] = []
        var partitions: [Partition] = []
        for (group, members) in workers {
            for member in members {
                guard let fact = member.hardwareFact else {
                    throw CloudcError(.internalError, "no hardware facts for \(member.name) when writing slurm.conf",
                                      fix: "the playbook must gather `hardware: slurmd -C` on workers before a role renders slurm.conf")
                }
                var line = NodeLine(name: member.name, address: member.address,
                                    hardware: try SlurmModel.parseHardware(fact, node: member.name),
                                    gpuDevices: SlurmModel.parseGPUDevices(member.gpuFact ?? ""))
                if let fact = hostnames[member.name] {
                    let hostname = try SlurmModel.parseHostname(fact, node: member.name)
                    if hostname != member.name { line.hostname = hostname }
                }
                lines.append(line)
            }
            if !members.isEmpty {
                partitions.append(Partition(name: group, nodes: members.map(\.name), isDefault: partitions.isEmpty))
            }
        }
        self.nodes = lines
        self.partitions = partitions
    }

    /// The template view: `slurm.nodes`, `slurm.partitions`, `slurm.gres` (gres.conf lines), `slurm.has_gpus`.
    public var templateValue: TemplateValue {
        .map([
            "nodes": .list(nodes.map { node in
                var entry: [String: TemplateValue] = [
                    "name": .text(node.name), "address": .text(node.address), "hardware": .text(node.hardware),
                ]
                entry["gres"] = node.gres.map { .text($0) } ?? .flag(false)
                entry["hostname"] = node.hostname.map { .text($0) } ?? .flag(false)
                return .map(entry)
            }),
            "partitions": .list(partitions.map {
                .map(["name": .text($0.name), "nodes": .text($0.nodes.joined(separator: ",")), "default": .flag($0.isDefault)])
            }),
            "gres": .list(nodes.flatMap { node in
                node.gpuDevices.map { TemplateValue.map(["node": .text(node.name), "file": .text($0)]) }
            }),
            "has_gpus": .flag(hasGPUs),
        ])
    }
}
