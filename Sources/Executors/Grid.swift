import CloudcCore

/// Brace grids in a command line: `--lr {0.1,0.01} --seed {1..5}` is 10 tasks.
///
/// Each word may hold brace groups, expanded the way bash expands braces:
/// - `{a,b,c}`: a list (no empty items; `\,` is a comma inside an item);
/// - `{1..5}`, `{5..1}`, `{0..10..2}`, `{-3..3}`, `{01..10}`: integer ranges, zero-padded to
///   the wider end when either end is written with a leading zero.
///
/// A brace pair with neither `,` nor `..` inside is literal (`{}` and `{x}` stay, so
/// `find . -exec cmd {} \;` works), and `\{` / `\}` are literal braces. Groups do not nest: an
/// outer pair whose own text holds no `,` or `..` is literal and the pairs inside it expand
/// (`{"a":{1,2}}` → `{"a":1}`, `{"a":2}`); a list or range that holds braces is refused.
///
/// Several groups give their cartesian product, the first group varying slowest (bash's order).
/// Each group is a dimension named after the option just before it (`--lr {…}` and
/// `--lr={…}` → `lr`, `-s {…}` → `s`, `lr={…}` → `lr`), else `p<N>` where N is the group's
/// position among all groups (`cmd {a,b} --lr {1,2} {x,y}` → `p1`, `lr`, `p3`). A name met again,
/// or one whose environment variable another name already has (`lr` and `LR`), or a name
/// cloudc uses itself (`task`, `run`), gets `_2`, `_3`, ….
public enum Grid {
    /// The most tasks one submission may have.
    public static let maxTasks = 100_000
    /// Names the run layout uses itself (`CLOUDC_TASK`, `CLOUDC_RUN`, the `task` column).
    static let reservedNames: Set<String> = ["task", "run"]

    /// The grid's dimension names (in command order) and its tasks, numbered from 1.
    public static func expand(_ words: [String]) throws -> (names: [String], tasks: [GridTask]) {
        guard !words.isEmpty else {
            throw CloudcError(.usage, "no command to run", fix: "give the command after '--': cloudc submit -- python train.py --lr {0.1,0.01}")
        }
        var parsed: [[Piece]] = []
        var groups: [Group] = []
        for (position, word) in words.enumerated() {
            let pieces = try parse(word)
            let wordName = ownName(pieces) ?? optionBefore(position, in: words)
            for piece in pieces {
                guard case .group(let items) = piece else { continue }
                groups.append(Group(name: wordName ?? "p\(groups.count + 1)", items: items))
            }
            parsed.append(pieces)
        }
        let names = uniqueNames(groups.map(\.name))

        var total = 1
        for group in groups {
            let (product, overflow) = total.multipliedReportingOverflow(by: group.items.count)
            guard !overflow, product <= maxTasks else { throw tooMany(groups) }
            total = product
        }

        var tasks: [GridTask] = []
        tasks.reserveCapacity(total)
        var choice = [Int](repeating: 0, count: groups.count)
        for index in 1...total {
            var groupIndex = 0
            var command: [String] = []
            for pieces in parsed {
                var word = ""
                for piece in pieces {
                    switch piece {
                    case .text(let text): word += text
                    case .group(let items):
                        word += items[choice[groupIndex]]
                        groupIndex += 1
                    }
                }
                command.append(Shell.quote(word))
            }
            let values = groups.indices.map { GridValue(name: names[$0], value: groups[$0].items[choice[$0]]) }
            tasks.append(GridTask(index: index, values: values, command: command.joined(separator: " ")))
            // The odometer: the last group turns fastest.
            var digit = groups.count - 1
            while digit >= 0 {
                choice[digit] += 1
                if choice[digit] < groups[digit].items.count { break }
                choice[digit] = 0
                digit -= 1
            }
        }
        return (names, tasks)
    }

    // MARK: parsing one word

    enum Piece: Equatable {
        case text(String)
        case group([String])
        var isGroup: Bool { if case .group = self { return true } else { return false } }
    }

    struct Group {
        var name: String
        var items: [String]
    }

    /// A word as literal text and brace groups.
    static func parse(_ word: String) throws -> [Piece] {
        let chars = Array(word)
        var pieces: [Piece] = []
        var text = ""
        var i = 0
        func flushText() {
            if !text.isEmpty { pieces.append(.text(text)); text = "" }
        }
        while i < chars.count {
            let c = chars[i]
            if c == "\\", i + 1 < chars.count, chars[i + 1] == "{" || chars[i + 1] == "}" {
                text.append(chars[i + 1])
                i += 2
                continue
            }
            guard c == "{" else {
                text.append(c)
                i += 1
                continue
            }
            guard let close = matchingClose(chars, from: i) else {
                throw CloudcError(.usage, "the word '\(word)' has a '{' that is never closed",
                                  fix: "close it with '}', or write '\\{' for a literal brace")
            }
            let inner = Array(chars[(i + 1)..<close])
            let topLevel = topLevelText(inner)
            let isList = topLevel.contains(",")
            let isRange = !isList && topLevel.contains("..")
            guard isList || isRange else {
                // `{}`, `{x}`, `{"a":{1,2}}`: the opening brace is literal; what is inside may still expand.
                text.append("{")
                i += 1
                continue
            }
            if hasUnescapedBrace(inner) {
                throw CloudcError(.usage, "the word '\(word)' nests brace groups, which cloudc does not expand",
                                  fix: "write each dimension as its own group ({a,b}{1,2}), or escape literal braces as '\\{' and '\\}'")
            }
            let items = isList ? try listItems(inner, word: word) : try rangeItems(String(inner), word: word)
            flushText()
            pieces.append(.group(items))
            i = close + 1
        }
        flushText()
        return pieces
    }

    /// The index of the `}` that closes the `{` at `open`, counting nested pairs and skipping escapes.
    static func matchingClose(_ chars: [Character], from open: Int) -> Int? {
        var depth = 0
        var i = open
        while i < chars.count {
            let c = chars[i]
            if c == "\\", i + 1 < chars.count, "{},".contains(chars[i + 1]) {
                i += 2
                continue
            }
            if c == "{" { depth += 1 }
            if c == "}" {
                depth -= 1
                if depth == 0 { return i }
            }
            i += 1
        }
        return nil
    }

    /// The text of a group outside any inner braces and escapes: what decides whether it is a list or a range.
    static func topLevelText(_ inner: [Character]) -> String {
        var depth = 0
        var out = ""
        var i = 0
        while i < inner.count {
            let c = inner[i]
            if c == "\\", i + 1 < inner.count, "{},".contains(inner[i + 1]) {
                i += 2
                continue
            }
            if c == "{" { depth += 1 } else if c == "}" { depth -= 1 } else if depth == 0 { out.append(c) }
            i += 1
        }
        return out
    }

    static func hasUnescapedBrace(_ inner: [Character]) -> Bool {
        var i = 0
        while i < inner.count {
            if inner[i] == "\\", i + 1 < inner.count, "{},".contains(inner[i + 1]) {
                i += 2
                continue
            }
            if inner[i] == "{" || inner[i] == "}" { return true }
            i += 1
        }
        return false
    }

    /// `a,b,c` → the items; `\,` `\{` `\}` are literal.
    static func listItems(_ inner: [Character], word: String) throws -> [String] {
        var items: [String] = []
        var item = ""
        var i = 0
        while i < inner.count {
            let c = inner[i]
            if c == "\\", i + 1 < inner.count, "{},".contains(inner[i + 1]) {
                item.append(inner[i + 1])
                i += 2
                continue
            }
            if c == "," {
                items.append(item)
                item = ""
            } else {
                item.append(c)
            }
            i += 1
        }
        items.append(item)
        if items.contains(where: \.isEmpty) {
            throw CloudcError(.usage, "the brace group {\(String(inner))} in '\(word)' has an empty item",
                              fix: "remove the extra ',' (for an empty value, use a value such as '' in the command's own syntax, e.g. --flag={on,off})")
        }
        return items
    }

    /// `1..5`, `5..1`, `0..10..2`, `01..10` → the numbers, as bash writes them.
    static func rangeItems(_ inner: String, word: String) throws -> [String] {
        let parts = inner.components(separatedBy: "..")
        func invalid() -> CloudcError {
            CloudcError(.usage, "the brace range {\(inner)} in '\(word)' is not a range of integers",
                        fix: "write {FIRST..LAST} or {FIRST..LAST..STEP} with integers (e.g. {1..5}, {0..100..10}, {01..10}), or list the values: {a,b,c}")
        }
        guard parts.count == 2 || parts.count == 3 else { throw invalid() }
        guard let first = integer(parts[0]), let last = integer(parts[1]) else { throw invalid() }
        var step = 1
        if parts.count == 3 {
            guard let given = integer(parts[2]), given != 0, given != .min else {
                throw CloudcError(.usage, "the brace range {\(inner)} in '\(word)' needs a step that is a non-zero integer",
                                  fix: "write e.g. {0..10..2}")
            }
            step = abs(given)
        }
        // How many values, without overflowing.
        let (span, overflow) = last > first ? last.subtractingReportingOverflow(first) : first.subtractingReportingOverflow(last)
        guard !overflow, span / step < maxTasks else {
            throw CloudcError(.usage, "the brace range {\(inner)} in '\(word)' has more than \(maxTasks) values",
                              fix: "use a larger step or a smaller range")
        }
        let count = span / step + 1
        let padded = [parts[0], parts[1]].contains { isZeroPadded($0) }
        let width = padded ? max(parts[0].count, parts[1].count) : 0
        let direction = last >= first ? step : -step
        return (0..<count).map { format(first + $0 * direction, width: width) }
    }

    static func integer(_ text: String) -> Int? {
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    /// `01`, `-05`: bash pads the whole range when an end is written with a leading zero.
    static func isZeroPadded(_ text: String) -> Bool {
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        return digits.count > 1 && digits.hasPrefix("0")
    }

    /// `n` in at least `width` characters, the sign included (printf's `%0*d`).
    static func format(_ n: Int, width: Int) -> String {
        let magnitude = String(n.magnitude)
        let sign = n < 0 ? "-" : ""
        let zeros = max(0, width - sign.count - magnitude.count)
        return sign + String(repeating: "0", count: zeros) + magnitude
    }

    // MARK: names

    /// `--lr` → `lr`, `-s` → `s`; nil for a word that is not an option or already holds a value.
    static func optionBefore(_ position: Int, in words: [String]) -> String? {
        guard position > 0 else { return nil }
        let word = words[position - 1]
        guard word.hasPrefix("-"), !word.contains("="), !word.contains("{") else { return nil }
        let name = String(word.drop { $0 == "-" })
        return isName(name) ? name : nil
    }

    /// `--lr={…}` / `lr={…}`: the name before `=` when the word starts with it and a group follows.
    static func ownName(_ pieces: [Piece]) -> String? {
        guard pieces.count >= 2, case .text(let text) = pieces[0], text.hasSuffix("="), pieces[1].isGroup else { return nil }
        let key = String(text.dropLast().drop { $0 == "-" })
        return isName(key) ? key : nil
    }

    /// A name starts with a letter or `_` and holds letters, digits, `_`, `-` and `.`.
    static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first.properties.isAlphabetic || first == "_" else { return false }
        return text.unicodeScalars.allSatisfy {
            ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "_-.".unicodeScalars.contains($0)
        }
    }

    /// The names made unique: again-met names, names whose variable is taken, reserved names get `_2`, `_3`, ….
    static func uniqueNames(_ names: [String]) -> [String] {
        var takenVariables = Set(reservedNames.map(RunLayout.variable))
        var out: [String] = []
        for name in names {
            var candidate = name
            var suffix = 2
            while takenVariables.contains(RunLayout.variable(candidate)) {
                candidate = "\(name)_\(suffix)"
                suffix += 1
            }
            takenVariables.insert(RunLayout.variable(candidate))
            out.append(candidate)
        }
        return out
    }

    static func tooMany(_ groups: [Group]) -> CloudcError {
        let sizes = groups.map { "\($0.name): \($0.items.count)" }.joined(separator: " × ")
        return CloudcError(.usage, "the grid has more than \(maxTasks) tasks (\(sizes))",
                           fix: "submit fewer values per brace group, or split the grid into several submissions")
    }
}
