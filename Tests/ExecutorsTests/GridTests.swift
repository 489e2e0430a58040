import CloudcCore
@testable import Executors
import Testing
import TestSupport

@Suite struct GridTests {
    /// One expansion: the command's words, and what each task's words become, with names.
    struct Case: Sendable, CustomTestStringConvertible {
        var words: [String]
        var names: [String]
        var commands: [String]
        var testDescription: String { words.joined(separator: " ") }
    }

    static let cases: [Case] = [
        Case(words: ["python", "train.py"], names: [], commands: ["python train.py"]),
        Case(words: ["echo", "{a,b,c}"], names: ["p1"], commands: ["echo a", "echo b", "echo c"]),
        Case(words: ["x", "{1..3}"], names: ["p1"], commands: ["x 1", "x 2", "x 3"]),
        Case(words: ["x", "{3..1}"], names: ["p1"], commands: ["x 3", "x 2", "x 1"]),
        Case(words: ["x", "{0..10..5}"], names: ["p1"], commands: ["x 0", "x 5", "x 10"]),
        Case(words: ["x", "{0..9..4}"], names: ["p1"], commands: ["x 0", "x 4", "x 8"]),
        Case(words: ["x", "{9..0..-4}"], names: ["p1"], commands: ["x 9", "x 5", "x 1"]),
        Case(words: ["x", "{-2..1}"], names: ["p1"], commands: ["x -2", "x -1", "x 0", "x 1"]),
        Case(words: ["x", "{7..7}"], names: ["p1"], commands: ["x 7"]),
        Case(words: ["x", "{08..11}"], names: ["p1"], commands: ["x 08", "x 09", "x 10", "x 11"]),
        Case(words: ["x", "{1..010..4}"], names: ["p1"], commands: ["x 001", "x 005", "x 009"]),
        Case(words: ["x", "{-01..1}"], names: ["p1"], commands: ["x -01", "x 000", "x 001"]),
        // Names: the option before, `--opt=` in the word, `key=` (Hydra style), else the group's position.
        Case(words: ["t", "--lr", "{1,2}"], names: ["lr"], commands: ["t --lr 1", "t --lr 2"]),
        Case(words: ["t", "-s", "{1,2}"], names: ["s"], commands: ["t -s 1", "t -s 2"]),
        Case(words: ["t", "--lr={1,2}"], names: ["lr"], commands: ["t --lr=1", "t --lr=2"]),
        Case(words: ["t", "model.lr={1,2}"], names: ["model.lr"], commands: ["t model.lr=1", "t model.lr=2"]),
        Case(words: ["t", "-v", "--lr={1,2}"], names: ["lr"], commands: ["t -v --lr=1", "t -v --lr=2"]),
        Case(words: ["{a,b}", "--lr", "{1,2}", "{x,y}"], names: ["p1", "lr", "p3"],
             commands: ["a --lr 1 x", "a --lr 1 y", "a --lr 2 x", "a --lr 2 y",
                        "b --lr 1 x", "b --lr 1 y", "b --lr 2 x", "b --lr 2 y"]),
        Case(words: ["t", "-5", "{1,2}"], names: ["p1"], commands: ["t -5 1", "t -5 2"]),
        Case(words: ["t", "--", "{1,2}"], names: ["p1"], commands: ["t -- 1", "t -- 2"]),
        // Duplicates, clashing variables and reserved names get suffixes.
        Case(words: ["t", "--size", "{1,2}x{3,4}"], names: ["size", "size_2"],
             commands: ["t --size 1x3", "t --size 1x4", "t --size 2x3", "t --size 2x4"]),
        Case(words: ["t", "--lr", "{1,2}", "--LR", "{3}"], names: ["lr"], commands: ["t --lr 1 --LR '{3}'", "t --lr 2 --LR '{3}'"]),
        Case(words: ["t", "--lr", "{1,2}", "--LR", "{3,4}"], names: ["lr", "LR_2"],
             commands: ["t --lr 1 --LR 3", "t --lr 1 --LR 4", "t --lr 2 --LR 3", "t --lr 2 --LR 4"]),
        Case(words: ["t", "--task", "{1,2}"], names: ["task_2"], commands: ["t --task 1", "t --task 2"]),
        Case(words: ["t", "--run", "{1,2}"], names: ["run_2"], commands: ["t --run 1", "t --run 2"]),
        // Literal braces: no `,` or `..` inside, escaped, or braces around a group.
        Case(words: ["find", ".", "-exec", "cat", "{}", ";"], names: [], commands: ["find . -exec cat '{}' ';'"]),
        Case(words: ["echo", "{x}"], names: [], commands: ["echo '{x}'"]),
        Case(words: ["echo", "\\{a,b\\}"], names: [], commands: ["echo '{a,b}'"]),
        Case(words: ["echo", "a}b"], names: [], commands: ["echo 'a}b'"]),
        Case(words: ["echo", "{\"k\":{1,2}}"], names: ["p1"], commands: ["echo '{\"k\":1}'", "echo '{\"k\":2}'"]),
        Case(words: ["echo", "${HOME}"], names: [], commands: ["echo '${HOME}'"]),
        // Items are taken as they are, then quoted for the shell.
        Case(words: ["echo", "{it's,a b,\\,}"], names: ["p1"], commands: ["echo 'it'\\''s'", "echo 'a b'", "echo ,"]),
        Case(words: ["echo", "pre{1,2}post"], names: ["p1"], commands: ["echo pre1post", "echo pre2post"]),
        Case(words: ["echo", "{1.5,2..x}"], names: ["p1"], commands: ["echo 1.5", "echo 2..x"]),
        Case(words: ["echo", "a b"], names: [], commands: ["echo 'a b'"]),
    ]

    @Test(arguments: cases)
    func expands(_ c: Case) throws {
        let grid = try Grid.expand(c.words)
        #expect(grid.names == c.names)
        #expect(grid.tasks.map(\.command) == c.commands)
        #expect(grid.tasks.map(\.index) == Array(1...c.commands.count))
        for task in grid.tasks { #expect(task.values.map(\.name) == c.names) }
    }

    @Test func firstGroupVariesSlowest() throws {
        let grid = try Grid.expand(["python", "train.py", "--lr", "{0.1,0.01}", "--seed", "{1..5}"])
        #expect(grid.names == ["lr", "seed"])
        #expect(grid.tasks.count == 10)
        #expect(grid.tasks[0] == GridTask(index: 1, values: [GridValue(name: "lr", value: "0.1"), GridValue(name: "seed", value: "1")],
                                          command: "python train.py --lr 0.1 --seed 1"))
        #expect(grid.tasks[1].values.map(\.value) == ["0.1", "2"])
        #expect(grid.tasks[5].values.map(\.value) == ["0.01", "1"])
        #expect(grid.tasks[9] == GridTask(index: 10, values: [GridValue(name: "lr", value: "0.01"), GridValue(name: "seed", value: "5")],
                                          command: "python train.py --lr 0.01 --seed 5"))
    }

    @Test func noBracesIsOneTaskWithoutValues() throws {
        let grid = try Grid.expand(["sleep", "1"])
        #expect(grid.names.isEmpty)
        #expect(grid.tasks == [GridTask(index: 1, values: [], command: "sleep 1")])
    }

    @Test func exactlyTheLimitIsAllowed() throws {
        let grid = try Grid.expand(["x", "{1..100}", "{1..1000}"])
        #expect(grid.tasks.count == Grid.maxTasks)
        #expect(grid.tasks.last?.command == "x 100 1000")
    }

    struct Failure: Sendable, CustomTestStringConvertible {
        var words: [String]
        var message: String
        var testDescription: String { words.joined(separator: " ") }
    }

    static let failures: [Failure] = [
        Failure(words: [], message: "no command to run"),
        Failure(words: ["echo", "{a,b"], message: "the word '{a,b' has a '{' that is never closed"),
        Failure(words: ["echo", "x{"], message: "the word 'x{' has a '{' that is never closed"),
        Failure(words: ["echo", "{a,,b}"], message: "the brace group {a,,b} in '{a,,b}' has an empty item"),
        Failure(words: ["echo", "{,a}"], message: "the brace group {,a} in '{,a}' has an empty item"),
        Failure(words: ["echo", "{a,}"], message: "the brace group {a,} in '{a,}' has an empty item"),
        Failure(words: ["echo", "{a..e}"], message: "the brace range {a..e} in '{a..e}' is not a range of integers"),
        Failure(words: ["echo", "{1..2.5}"], message: "the brace range {1..2.5} in '{1..2.5}' is not a range of integers"),
        Failure(words: ["echo", "{1..}"], message: "the brace range {1..} in '{1..}' is not a range of integers"),
        Failure(words: ["echo", "{1..5..2..1}"], message: "the brace range {1..5..2..1} in '{1..5..2..1}' is not a range of integers"),
        Failure(words: ["echo", "{1..5..0}"], message: "the brace range {1..5..0} in '{1..5..0}' needs a step that is a non-zero integer"),
        Failure(words: ["echo", "{a,{b,c}}"], message: "the word '{a,{b,c}}' nests brace groups, which cloudc does not expand"),
        Failure(words: ["x", "{1..100001}"], message: "the brace range {1..100001} in '{1..100001}' has more than 100000 values"),
        Failure(words: ["x", "{-9223372036854775807..9223372036854775807}"],
                message: "the brace range {-9223372036854775807..9223372036854775807} in '{-9223372036854775807..9223372036854775807}' has more than 100000 values"),
        Failure(words: ["x", "--a", "{1..1000}", "--b", "{1..101}"], message: "the grid has more than 100000 tasks (a: 1000 × b: 101)"),
        Failure(words: ["x", "{1..1000}", "{1..1000}", "{1..1000}", "{1..1000}", "{1..1000}", "{1..1000}", "{1..1000}"],
                message: "the grid has more than 100000 tasks (p1: 1000 × p2: 1000 × p3: 1000 × p4: 1000 × p5: 1000 × p6: 1000 × p7: 1000)"),
    ]

    @Test(arguments: failures)
    func refuses(_ f: Failure) throws {
        let error = try #require(throws: CloudcError.self) { try Grid.expand(f.words) }
        #expect(error.code == .usage)
        #expect(error.message == f.message)
        #expect(error.fix?.isEmpty == false)
    }

    /// Each task's command, run by bash, gets the words bash itself gets when it expands the braces.
    @Test func bashRunsTheWordsItWouldExpandTo() async throws {
        let grid = try Grid.expand(["printf", "[%s]", "--n", "{01..03}", "{it's,x y}", "$HOME", "*"])
        var outputs: [String] = []
        for task in grid.tasks {
            let run = try await Run.programOffPool("/bin/bash", ["-c", task.command])
            outputs.append(run.stdout)
        }
        #expect(outputs.count == 6)
        #expect(outputs[0] == "[--n][01][it's][$HOME][*]")
        #expect(outputs[5] == "[--n][03][x y][$HOME][*]")
        // bash's own expansion of the same braces, one word set per line.
        let bash = try await Run.programOffPool("/bin/bash", ["-c", "for n in {01..03}; do for v in \"it's\" 'x y'; do printf '[%s]' --n $n \"$v\" '$HOME' '*'; echo; done; done"])
        #expect(bash.stdout.split(separator: "\n").map(String.init) == outputs)
    }
}
