import CloudcCore
import Yams

/// A mapping that repeats a key. Yams rejects it while composing, pointing at the first
/// occurrence only; this finds the repeat and its key path by composing the text again
/// with the first occurrence renamed.
enum DuplicateKeys {
    static func error(key: String, first: Mark, yaml: String, context: ConfigContext) -> CloudcError {
        let what = "duplicate key '\(key)'"
        let fix = "keep one '\(key):' in this mapping; remove or rename the other"
        guard let (path, second) = locate(key: key, first: first, yaml: yaml) else {
            return CloudcError(.config, "\(context.location(first)): \(what)", fix: fix)
        }
        return CloudcError(.config, "\(context.location(second)): \(path): \(what) (first at line \(first.line), column \(first.column))",
                           fix: fix)
    }

    private static let marker = "cloudc-duplicate-key-"

    /// The repeated key's path and the position of its second occurrence.
    static func locate(key: String, first: Mark, yaml: String) -> (KeyPath, Position)? {
        var lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard first.line >= 1, first.line <= lines.count else { return nil }
        var scalars = Array(lines[first.line - 1].unicodeScalars)
        var at = first.column - 1
        guard at >= 0, at < scalars.count else { return nil }
        if scalars[at] == "\"" || scalars[at] == "'" { at += 1 }
        guard String(String.UnicodeScalarView(scalars[at...])).hasPrefix(key) else { return nil }
        scalars.insert(contentsOf: marker.unicodeScalars, at: at)
        lines[first.line - 1] = String(String.UnicodeScalarView(scalars))
        guard let root = try? Yams.compose(yaml: lines.joined(separator: "\n")),
              let (path, second) = find(key: key, in: root, path: .root), let second else { return nil }
        // The marker moved whatever followed the first occurrence on its line.
        let shift = second.line == first.line && second.column > first.column ? marker.unicodeScalars.count : 0
        return (path, Position(line: second.line, column: second.column - shift))
    }

    private static func find(key: String, in node: Node, path: KeyPath) -> (KeyPath, Mark?)? {
        switch node {
        case .mapping(let mapping):
            if mapping.keys.contains(where: { $0.string == marker + key }) {
                let second = mapping.keys.first { $0.string == key }
                return (path.key(key), second?.mark)
            }
            for (childKey, child) in mapping {
                if let found = find(key: key, in: child, path: path.key(childKey.string ?? "?")) { return found }
            }
            return nil
        case .sequence(let sequence):
            for (index, child) in sequence.enumerated() {
                if let found = find(key: key, in: child, path: path.index(index)) { return found }
            }
            return nil
        case .scalar, .alias:
            return nil
        }
    }
}
