import CloudcCore
import Foundation
import Yams

/// One value of the config with its place (key path, line and column): reads it as
/// the type a key expects, expanding `${VAR}`, and fails with an error pointing at it.
struct ConfigValue {
    let node: Node
    let path: KeyPath
    let context: ConfigContext
    /// Where the value's key sits; errors about an empty value point there.
    let keyMark: Mark?

    /// The keys whose values are secrets: no error message ever quotes them.
    static let secretKeys: Set<String> = [
        "secret_access_key", "session_token", "password", "application_credential_secret",
    ]

    /// Where errors about this value point.
    var mark: Mark? { isNull ? (keyMark ?? node.mark) : (node.mark ?? keyMark) }

    var isSecret: Bool { path.lastKey.map(Self.secretKeys.contains) ?? false }

    /// `key:` with nothing after it, `~` or `null`.
    var isNull: Bool {
        node.null != nil
    }

    func error(_ what: String, fix: String) -> CloudcError {
        context.error(at: mark, path, what, fix: fix)
    }

    // MARK: Scalars

    /// The value as text, `${VAR}` expanded.
    func string() throws -> String {
        guard case .scalar(let scalar) = node, !isNull else {
            throw mismatch(expected: "a single value", fix: "write one value after '\(keyName):' (quote it if it contains ': ' or starts with [, {, & or *)")
        }
        return try expand(scalar.string)
    }

    /// A whole number.
    func int() throws -> Int {
        let text = try scalarText(expected: "a whole number", fix: intFix)
        guard let number = Int(text.trimmingWhitespace) else {
            throw error("expected a whole number, found \(quoted(text))", fix: intFix)
        }
        return number
    }

    /// `true` or `false` (also `yes`/`no`, `on`/`off`, as YAML 1.1 has them).
    func bool() throws -> Bool {
        let fix = "write true or false after '\(keyName):'"
        let text = try scalarText(expected: "true or false", fix: fix)
        switch text.trimmingWhitespace.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, found \(quoted(text))", fix: fix)
        }
    }

    // MARK: Collections

    /// The elements of a list; an empty value is an empty list, a single scalar is not a list.
    func list() throws -> [ConfigValue] {
        if isNull { return [] }
        guard case .sequence(let sequence) = node else {
            throw mismatch(expected: "a list", fix: "write a list such as [a, b], or one '- item' per line under '\(keyName):'")
        }
        return sequence.enumerated().map { index, element in
            ConfigValue(node: element, path: path.index(index), context: context, keyMark: element.mark)
        }
    }

    /// The key/value pairs of a mapping, in file order; an empty value is an empty mapping.
    func mapping() throws -> ConfigMapping {
        try ConfigMapping(self)
    }

    /// An error for a value of the wrong kind, describing what was found without quoting secrets.
    func mismatch(expected: String, fix: String) -> CloudcError {
        error("expected \(expected), found \(foundDescription)", fix: fix)
    }

    // MARK: Private

    private var keyName: String { path.lastKey ?? "value" }

    private var intFix: String { "write a whole number after '\(keyName):', e.g. \(keyName): 4" }

    private var foundDescription: String {
        switch node {
        case .mapping: return "a mapping (key: value pairs)"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            return isNull ? "nothing" : quoted(scalar.string)
        }
    }

    private func scalarText(expected: String, fix: String) throws -> String {
        guard case .scalar(let scalar) = node, !isNull else { throw mismatch(expected: expected, fix: fix) }
        return try expand(scalar.string)
    }

    /// The value in quotes for a message, or a stand-in for a secret.
    private func quoted(_ text: String) -> String {
        isSecret ? "a value that is not shown because it is a secret" : "'\(text)'"
    }

    private func expand(_ text: String) throws -> String {
        do {
            return try Expansion.expand(text, environment: context.environment)
        } catch .unset(let name) {
            throw error("environment variable \(name) is not set",
                        fix: "set \(name) before running cloudc, or give a default: ${\(name):-VALUE}")
        } catch .unterminated {
            throw error("'${' without a closing '}'",
                        fix: "close the reference: ${NAME} or ${NAME:-default}; write $${ for a literal '${'")
        } catch .badName(let name) {
            let shown = isSecret ? "a reference" : "'${\(name)}'"
            throw error("\(shown) does not name an environment variable",
                        fix: "write ${NAME} or ${NAME:-default}, NAME made of letters, digits and '_'; write $${ for a literal '${'")
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
