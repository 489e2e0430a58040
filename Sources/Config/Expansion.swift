/// `${VAR}` and `${VAR:-default}` in a scalar value, taken from the environment.
///
/// `$${` writes a literal `${`; a `$` not followed by `{` is left alone, so values such
/// as passwords with a `$` in them need no escaping.
enum Expansion {
    enum Failure: Error, Equatable {
        /// The variable is not set and the reference gives no default.
        case unset(name: String)
        /// `${` without a closing `}`.
        case unterminated
        /// `${…}` whose name is not a variable name.
        case badName(String)
    }

    static func expand(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        var output = ""
        var index = text.startIndex
        while index < text.endIndex {
            let rest = text[index...]
            if rest.hasPrefix("$${") {
                output += "${"
                index = text.index(index, offsetBy: 3)
            } else if rest.hasPrefix("${") {
                let open = text.index(index, offsetBy: 2)
                guard let close = text[open...].firstIndex(of: "}") else { throw .unterminated }
                output += try substitute(String(text[open..<close]), environment: environment)
                index = text.index(after: close)
            } else {
                output.append(text[index])
                index = text.index(after: index)
            }
        }
        return output
    }

    /// One reference's inside: `NAME` or `NAME:-default`.
    private static func substitute(_ reference: String, environment: [String: String]) throws(Failure) -> String {
        let name: String
        let fallback: String?
        if let separator = reference.range(of: ":-") {
            name = String(reference[..<separator.lowerBound])
            fallback = String(reference[separator.upperBound...])
        } else {
            name = reference
            fallback = nil
        }
        guard isVariableName(name) else { throw .badName(name) }
        if let value = environment[name], !(value.isEmpty && fallback != nil) { return value }
        guard let fallback else { throw .unset(name: name) }
        return fallback
    }

    private static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
