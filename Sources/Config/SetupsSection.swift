import CloudcCore

/// `setups:`: which playbook configures a cluster's nodes, with its variables.
enum SetupsSection {
    static let keys = ["playbook", "vars"]

    /// The setups, in file order.
    static func parse(_ value: ConfigValue?) throws -> [SetupSpec] {
        guard let value else { return [] }
        return try value.mapping().entries.map { try setup(named: $0.key, $0.value) }
    }

    static func setup(named name: String, _ value: ConfigValue) throws -> SetupSpec {
        let map = try value.mapping()
        try map.rejectUnknownKeys(allowed: keys)
        let playbook = try map.requiredString("playbook", "the playbook that configures the nodes", example: "slurm")
        var vars: [String: String] = [:]
        if let varsValue = map["vars"] {
            for entry in try varsValue.mapping().entries {
                guard case .scalar = entry.value.node else {
                    throw entry.value.mismatch(expected: "a single value",
                                               fix: "vars hold text, numbers or booleans; write '\(entry.key): VALUE'")
                }
                vars[entry.key] = entry.value.isNull ? "" : try entry.value.string()
            }
        }
        return SetupSpec(name: name, playbook: playbook, vars: vars)
    }
}
