import CloudcCore

/// Catches a grid that the user's shell expanded before cloudc saw it.
///
/// bash and zsh expand unquoted braces themselves: `--lr {0.1,0.01} --seed {1..5}` reaches
/// cloudc as `--lr 0.1 0.01 --seed 1 2 3 4 5`, which would run as one task whose program is
/// given every value at once. cloudc cannot see what was typed, so it looks for the shapes
/// that expansion leaves:
/// - an option followed by two or more values that are all numbers, or that share a prefix or a
///   suffix (`--lr 0.1 0.01`, `--data part_1.csv part_2.csv`): what `{a,b}` after an option makes;
/// - one `NAME=` repeated over consecutive words (`--lr=0.1 --lr=0.01`, `lr=1 lr=2`): what
///   `--lr={0.1,0.01}` makes.
///
/// Such a command is refused with the quoted form that makes the grid (`--lr '{0.1,0.01}'`);
/// `--as-is` runs it as typed, for a program that does take several values there.
public enum ShellExpansion {
    /// One place where the words look expanded.
    public struct Suspect: Equatable, Sendable {
        /// The words as cloudc got them, e.g. `["--lr", "0.1", "0.01"]`.
        public var words: [String]
        /// What the user most likely typed, quoted so that the shell leaves it alone: `--lr '{0.1,0.01}'`.
        public var quoted: String
        /// Where those words are in the command.
        public var range: Range<Int>
    }

    /// Refuses a command that looks expanded by the shell, with the quoted command in the fix.
    public static func check(_ words: [String]) throws {
        let found = suspects(words)
        guard !found.isEmpty else { return }
        let shown = found.map { "'\($0.words.joined(separator: " "))'" }.joined(separator: " and ")
        throw CloudcError(.usage,
                          "the command looks expanded by your shell: \(shown) is what bash and zsh make of unquoted braces, "
                              + "and would run as one task that gets all the values at once",
                          fix: "quote the braces so that cloudc expands them into a grid: cloudc submit … -- \(rewritten(words, found)) "
                              + "(or add --as-is if the program does take several values there)")
    }

    /// Every place in `words` that looks expanded, in order.
    public static func suspects(_ words: [String]) -> [Suspect] {
        var found: [Suspect] = []
        var i = 0
        while i < words.count {
            if let suspect = optionWithValues(words, at: i) ?? repeatedAssignment(words, at: i) {
                found.append(suspect)
                i = suspect.range.upperBound
            } else {
                i += 1
            }
        }
        return found
    }

    /// The command with every suspect replaced by its quoted form, the other words shell-quoted.
    static func rewritten(_ words: [String], _ found: [Suspect]) -> String {
        var out: [String] = []
        var i = 0
        for suspect in found {
            out += words[i..<suspect.range.lowerBound].map(Shell.quote)
            out.append(suspect.quoted)
            i = suspect.range.upperBound
        }
        out += words[i...].map(Shell.quote)
        return out.joined(separator: " ")
    }

    // MARK: the two shapes

    /// `--lr 0.1 0.01`: an option (no `=`) and then two or more values of one shape.
    static func optionWithValues(_ words: [String], at index: Int) -> Suspect? {
        let option = words[index]
        guard isOption(option) else { return nil }
        var end = index + 1
        while end < words.count, !isOption(words[end]), !words[end].contains("{") { end += 1 }
        // The longest run of two or more values right after the option (a positional argument may follow it).
        let following = Array(words[(index + 1)..<end])
        guard following.count >= 2,
              let length = stride(from: following.count, through: 2, by: -1).first(where: { length in
                  let values = Array(following.prefix(length))
                  return Set(values).count == length && looksExpanded(values)
              }) else { return nil }
        let values = Array(following.prefix(length))
        return Suspect(words: [option] + values, quoted: "\(Shell.quote(option)) '\(braceGroup(values))'",
                       range: index..<(index + 1 + length))
    }

    /// `--lr=0.1 --lr=0.01` or `lr=0.1 lr=0.01`: one `NAME=` over two or more consecutive words.
    static func repeatedAssignment(_ words: [String], at index: Int) -> Suspect? {
        guard let equals = words[index].firstIndex(of: "=") else { return nil }
        let prefix = String(words[index][...equals])
        let name = prefix.dropLast().drop { $0 == "-" }
        guard Grid.isName(String(name)) else { return nil }
        var end = index + 1
        while end < words.count, words[end].hasPrefix(prefix) { end += 1 }
        let values = words[index..<end].map { String($0.dropFirst(prefix.count)) }
        guard values.count >= 2, Set(values).count == values.count, !values.contains(where: \.isEmpty) else { return nil }
        return Suspect(words: Array(words[index..<end]), quoted: "'\(prefix)\(braceGroup(values))'", range: index..<end)
    }

    /// `-n`, `--lr`, `--learning-rate`: a word that names an option and holds no value.
    static func isOption(_ word: String) -> Bool {
        guard word.hasPrefix("-"), !word.contains("="), word != "-", word != "--" else { return false }
        return Grid.isName(String(word.drop { $0 == "-" }))
    }

    /// Values that brace expansion would make: all numbers, or all with a common prefix or suffix.
    static func looksExpanded(_ values: [String]) -> Bool {
        if values.allSatisfy(isNumber) { return true }
        guard values.allSatisfy({ !$0.isEmpty }) else { return false }
        let prefix = values.dropFirst().reduce(values[0]) { String($0.commonPrefix(with: $1)) }
        let suffix = values.dropFirst().reduce(String(values[0].reversed())) { String($0.commonPrefix(with: String($1.reversed()))) }
        return !prefix.isEmpty || !suffix.isEmpty
    }

    static func isNumber(_ text: String) -> Bool {
        !text.isEmpty && Double(text) != nil && text.allSatisfy { $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }
    }

    /// `{1..5}` for a run of integers (with its step), else `{a,b,c}` (commas and braces escaped).
    static func braceGroup(_ values: [String]) -> String {
        let integers = values.compactMap(Grid.integer)
        if integers.count == values.count, integers.count >= 3, values.allSatisfy({ !Grid.isZeroPadded($0) && !$0.hasPrefix("+") }) {
            let step = integers[1] - integers[0]
            if step != 0, zip(integers, integers.dropFirst()).allSatisfy({ $1 - $0 == step }) {
                let last = integers[integers.count - 1]
                return abs(step) == 1 ? "{\(integers[0])..\(last)}" : "{\(integers[0])..\(last)..\(abs(step))}"
            }
        }
        let escaped = values.map { value in
            value.replacingOccurrences(of: ",", with: "\\,")
                .replacingOccurrences(of: "{", with: "\\{").replacingOccurrences(of: "}", with: "\\}")
                .replacingOccurrences(of: "'", with: "'\\''")
        }
        return "{" + escaped.joined(separator: ",") + "}"
    }
}
