import CloudcCore
import Yams

/// Yams's errors as config errors: `FILE:LINE:COLUMN:` and what libyaml found, never a
/// snippet of the file (the line could hold a secret).
enum YAMLSyntax {
    static func error(_ error: YamlError, yaml: String, context: ConfigContext) -> CloudcError {
        switch error {
        case let .scanner(problemContext, problem, mark, _),
             let .parser(problemContext, problem, mark, _),
             let .composer(problemContext, problem, mark, _):
            var what = "YAML syntax error: \(problem)"
            if let problemContext, problem.hasPrefix("but ") {
                what = "YAML syntax error: \(problemContext.text), \(problem)"
            } else if let problemContext {
                what += " (\(problemContext.text) at line \(problemContext.mark.line), column \(problemContext.mark.column))"
            }
            return CloudcError(.config, "\(context.location(mark)): \(what)", fix: fix(at: mark, in: yaml))
        case let .reader(problem, offset, _, _):
            let mark = offset.map { self.mark(atCharacterOffset: $0, in: yaml) }
            return CloudcError(.config, "\(context.location(mark)): the file is not valid YAML text: \(problem)",
                               fix: "save the file as UTF-8 text")
        case let .duplicatedKeysInMapping(duplicates, problemContext):
            return DuplicateKeys.error(key: duplicates.first ?? "?", first: problemContext.mark,
                                       yaml: yaml, context: context)
        default:
            return CloudcError(.config, "\(context.file):1:1: the file could not be read as YAML",
                               fix: "check that it is a YAML text file; config.example.yaml shows the format")
        }
    }

    private static func fix(at mark: Mark, in yaml: String) -> String {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let nearby = lines.dropFirst(max(0, mark.line - 2)).prefix(2)
        if nearby.contains(where: { $0.contains("\t") }) {
            return "indent with spaces: YAML does not allow tabs for indentation"
        }
        return "check the indentation and quoting near line \(mark.line): items of one mapping line up, "
            + "and a value containing ': ' or ' #', or starting with [ { * & ! % @ or `, needs quotes"
    }

    /// The line and column (both from 1) of a character offset.
    static func mark(atCharacterOffset offset: Int, in text: String) -> Position {
        var line = 1, column = 1
        for character in text.prefix(offset) {
            if character.isNewline { line += 1; column = 1 } else { column += 1 }
        }
        return Position(line: line, column: column)
    }
}
