import CloudcCore
@testable import Executors
import Testing
import TestSupport

/// What bash and zsh leave of an unquoted grid, and what cloudc says about it.
@Suite struct ShellExpansionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var words: [String]
        /// The quoted forms cloudc suggests, one per suspect; empty when the command is fine.
        var quoted: [String]
        var testDescription: String { words.joined(separator: " ") }
    }

    static let cases: [Case] = [
        // What `./train.sh --lr {0.1,0.01} --seed {1..5}` becomes in bash.
        Case(words: ["./train.sh", "--lr", "0.1", "0.01", "--seed", "1", "2", "3", "4", "5"],
             quoted: ["--lr '{0.1,0.01}'", "--seed '{1..5}'"]),
        Case(words: ["t", "--step", "0", "10", "20"], quoted: ["--step '{0..20..10}'"]),
        Case(words: ["t", "--n", "5", "4", "3"], quoted: ["--n '{5..3}'"]),
        Case(words: ["t", "--n", "01", "02", "03"], quoted: ["--n '{01,02,03}'"]),
        Case(words: ["t", "-x", "-1", "0", "1"], quoted: ["-x '{-1..1}'"]),
        Case(words: ["t", "--data", "part_a.csv", "part_b.csv"], quoted: ["--data '{part_a.csv,part_b.csv}'"]),
        Case(words: ["t", "--opt", "adam", "sgd"], quoted: []),   // nothing shared: could be a value and an argument
        Case(words: ["t", "--seed", "1", "2", "3", "data/"], quoted: ["--seed '{1..3}'"]),   // a positional argument after the grid   // nothing shared: could be a value and an argument
        Case(words: ["t", "--lr=0.1", "--lr=0.01"], quoted: ["'--lr={0.1,0.01}'"]),
        Case(words: ["t", "model.lr=1", "model.lr=2", "x"], quoted: ["'model.lr={1,2}'"]),
        Case(words: ["t", "--tag", "a,b", "c,b"], quoted: ["--tag '{a\\,b,c\\,b}'"]),
        Case(words: ["t", "--name", "it's", "that's"], quoted: ["--name '{it'\\''s,that'\\''s}'"]),
        // Not expanded: one value, an option then a positional argument of another shape, quoted groups.
        Case(words: ["./train.sh", "--lr", "0.1"], quoted: []),
        Case(words: ["./train.sh", "--epochs", "10", "data/"], quoted: []),
        Case(words: ["./train.sh", "--lr", "{0.1,0.01}", "--seed", "{1..5}"], quoted: []),
        Case(words: ["t", "--lr", "0.1", "0.1"], quoted: []),                   // repeated, not a grid
        Case(words: ["t", "--lr=0.1", "--seed=1"], quoted: []),
        Case(words: ["python", "-c", "print(1)"], quoted: []),
        Case(words: ["find", ".", "-name", "*.py", "-exec", "wc", "{}", ";"], quoted: []),
    ]

    @Test(arguments: cases)
    func suspects(_ c: Case) {
        #expect(ShellExpansion.suspects(c.words).map(\.quoted) == c.quoted)
    }

    @Test func refusedWithTheQuotedCommand() throws {
        let words = ["./train.sh", "--lr", "0.1", "0.01", "--seed", "1", "2", "3", "4", "5", "out dir"]
        let error = try #require(throws: CloudcError.self) { try ShellExpansion.check(words) }
        #expect(error.code == .usage)
        #expect(error.message.contains("'--lr 0.1 0.01' and '--seed 1 2 3 4 5'"))
        #expect(error.fix?.contains("-- ./train.sh --lr '{0.1,0.01}' --seed '{1..5}' 'out dir'") == true)
        #expect(error.fix?.contains("--as-is") == true)
    }

    /// The suggestion, read by bash and given to the grid parser, makes the grid that was meant.
    @Test(arguments: cases.filter { !$0.quoted.isEmpty })
    func suggestionMakesTheGrid(_ c: Case) throws {
        let found = ShellExpansion.suspects(c.words)
        let rewritten = ShellExpansion.rewritten(c.words, found)
        // bash itself reads the suggestion, as it would when the user pastes it.
        let run = try Run.program("/bin/bash", ["-c", "printf '%s\\0' " + rewritten])
        #expect(run.status == 0)
        let words = run.stdout.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
        let (_, tasks) = try Grid.expand(words)
        let expected = found.reduce(1) { product, suspect in
            product * (suspect.words[0].hasPrefix("-") && !suspect.words[0].contains("=") ? suspect.words.count - 1 : suspect.words.count)
        }
        #expect(tasks.count == expected)
        #expect(ShellExpansion.suspects(words).isEmpty)
    }
}
