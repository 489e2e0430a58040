import CloudcCore
import Yams

/// A mapping of the config: its entries in file order, looked up by key, with the
/// checks every mapping needs (unknown keys, missing keys).
struct ConfigMapping {
    struct Entry {
        let key: String
        let keyMark: Mark?
        let value: ConfigValue
    }

    /// The mapping itself, for errors about it as a whole.
    let value: ConfigValue
    let entries: [Entry]

    init(_ value: ConfigValue) throws {
        self.value = value
        if value.isNull {
            entries = []
            return
        }
        guard case .mapping(let mapping) = value.node else {
            let name = value.path.lastKey ?? "the top level"
            throw value.mismatch(expected: "a mapping (key: value pairs)",
                                 fix: "write 'key: value' lines indented under '\(name)'")
        }
        var entries: [Entry] = []
        for (key, child) in mapping {
            guard case .scalar(let scalar) = key else {
                throw value.context.error(at: key.mark, value.path, "a key must be a plain name, not a list or mapping",
                                          fix: "write 'name: value'; check the indentation around this line")
            }
            let keyPath = value.path.key(scalar.string)
            entries.append(Entry(key: scalar.string, keyMark: key.mark,
                                 value: ConfigValue(node: child, path: keyPath, context: value.context, keyMark: key.mark)))
        }
        self.entries = entries
    }

    var keys: [String] { entries.map(\.key) }

    var path: KeyPath { value.path }

    /// The value under `key`, nil when the key is absent or its value empty.
    subscript(_ key: String) -> ConfigValue? {
        guard let entry = entries.first(where: { $0.key == key }), !entry.value.isNull else { return nil }
        return entry.value
    }

    func entry(_ key: String) -> Entry? { entries.first { $0.key == key } }

    /// The value under `key`, or an error at this mapping saying the key is missing.
    func require(_ key: String, _ why: String, example: String) throws -> ConfigValue {
        guard let found = self[key] else { throw missing(key, why, example: example) }
        return found
    }

    func missing(_ key: String, _ why: String, example: String) -> CloudcError {
        let place = path.lastKey.map { " under '\($0)'" } ?? ""
        let what = entry(key) == nil ? "missing" : "empty"
        return value.context.error(at: entry(key)?.keyMark ?? value.mark, path.key(key), "\(what); \(why)",
                                   fix: "add '\(key): \(example)'\(place)")
    }

    /// Fails on the first key not in `allowed`, suggesting the closest allowed one.
    func rejectUnknownKeys(allowed: [String]) throws {
        for entry in entries where !allowed.contains(entry.key) {
            let what = "unknown key '\(entry.key)'"
            if let suggestion = Suggestions.closest(to: entry.key, in: allowed) {
                throw value.context.error(at: entry.keyMark, path.key(entry.key), "\(what); did you mean '\(suggestion)'?",
                                          fix: "rename '\(entry.key)' to '\(suggestion)'")
            }
            throw value.context.error(at: entry.keyMark, path.key(entry.key), what,
                                      fix: "remove it or use one of the keys allowed here: \(Suggestions.list(allowed))")
        }
    }

    // MARK: Typed lookups

    /// Optional text; absent, empty or expanding to "" all mean "not given".
    func string(_ key: String) throws -> String? {
        guard let found = self[key] else { return nil }
        let text = try found.string()
        return text.isEmpty ? nil : text
    }

    /// Required text that may not be empty.
    func requiredString(_ key: String, _ why: String, example: String) throws -> String {
        let found = try require(key, why, example: example)
        let text = try found.string()
        guard !text.isEmpty else {
            throw found.error("empty; \(why)", fix: "write a value after '\(key):', e.g. \(key): \(example)")
        }
        return text
    }

    /// A required file path, resolved as `path(_:)` does.
    func requiredPath(_ key: String, _ why: String, example: String) throws -> String {
        let text = try requiredString(key, why, example: example)
        return try require(key, why, example: example).resolvedPath(text)
    }

    func int(_ key: String) throws -> Int? {
        try self[key]?.int()
    }

    func bool(_ key: String) throws -> Bool? {
        try self[key]?.bool()
    }

    /// A file path: `~` expanded; a relative path is taken relative to the config file's folder.
    func path(_ key: String) throws -> String? {
        guard let text = try string(key), let found = self[key] else { return nil }
        return try found.resolvedPath(text)
    }
}

extension ConfigValue {
    /// `text` (this value, expanded) as a file path: `~` and `~/…` are the home directory,
    /// a relative path is relative to the config file's folder.
    func resolvedPath(_ text: String) throws -> String {
        guard let expanded = context.expandingTilde(text) else {
            throw error("'\(text)' starts with '~user', which cloudc does not expand",
                        fix: "write the full path, or ~/… for your own home directory")
        }
        guard !expanded.hasPrefix("/") else { return expanded }
        let folder = context.file.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        guard context.file.hasPrefix("/"), !folder.isEmpty else { return expanded }
        let relative = expanded.hasPrefix("./") ? String(expanded.dropFirst(2)) : expanded
        return folder + "/" + relative
    }
}
