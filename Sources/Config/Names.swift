import Yams

/// Names that become parts of cloud resource names and host names (templates, groups):
/// lowercase letters, digits and '-', starting with a letter.
enum Names {
    static let groupMaxLength = 20
    static let templateMaxLength = 30

    static func isValid(_ name: String, maxLength: Int) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.unicodeScalars.count <= maxLength
        else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    /// Fails unless `name` (the key at `keyMark`) is a valid name of a `kind`.
    static func check(_ name: String, kind: String, maxLength: Int, keyMark: Mark?, path: KeyPath,
                      context: ConfigContext) throws {
        guard !isValid(name, maxLength: maxLength) else { return }
        let rule = "lowercase letters, digits and '-', starting with a letter, at most \(maxLength) characters"
        let candidate = String(name.lowercased().map { $0 == "_" || $0 == " " || $0 == "." ? "-" : $0 }.prefix(maxLength))
        let hint = isValid(candidate, maxLength: maxLength) ? ", e.g. '\(candidate)'" : ""
        throw context.error(at: keyMark, path, "'\(name)' is not a valid \(kind) name",
                            fix: "rename it using \(rule)\(hint)")
    }
}
