import Foundation
import Testing
import TestSupport

/// Every `cloudc submit` example of the README and of `cloudc submit --help`, pasted into a real
/// bash (and zsh, where installed) as a user would, runs the built binary and makes the grid it
/// says. The braces a user forgets to quote are caught, and cloudc's suggestion, pasted back, works.
@Suite(.serialized, .needsRoot) struct ShellExamplesTests {
    /// Each example's task count, as its text promises ("runs 10 tasks", "Submitting 10 task(s)").
    /// An example missing here fails the test: a new example needs its count.
    static let promised: [String: Int] = [
        "cloudc submit --dir ./code -- ./train.sh --lr '{0.1,0.01}' --seed '{1..5}'": 10,
        "cloudc submit --executor local --dir ./code -- ./train.sh --lr '{0.1,0.01}'": 2,
        "cloudc submit --dry-run --dir ./code -- ./train.sh --lr '{0.1,0.01}' --seed '{1..5}'": 10,
        "cloudc submit -- python train.py --lr '{0.1,0.01}' --seed '{1..5}'": 10,
        "cloudc submit --dry-run -- python train.py --lr '{0.1,0.01}'": 2,
    ]

    /// A desk with the examples' scripts (`code/train.sh`, `train.py`).
    static func desk() throws -> Desk {
        let desk = try Desk()
        let script = "#!/bin/sh\necho \"args: $*\" > args.txt\n"
        for path in ["code/train.sh", "train.py"] { chmod(try desk.write(path, script), 0o755) }
        return desk
    }

    /// The shells to paste into: bash always, zsh where it is installed.
    static var shells: [String] {
        ["/bin/bash"] + (["/usr/bin/zsh", "/bin/zsh"].first { FileManager.default.isExecutableFile(atPath: $0) }.map { [$0] } ?? [])
    }

    /// `$ cloudc submit …   # comment` lines of the README and `cloudc submit …` lines of the help that give a command.
    static func examples(help: String) throws -> [String] {
        let readme = try String(contentsOfFile: Paths.repoRoot + "/README.md", encoding: .utf8)
        let fromReadme = readme.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("$ cloudc submit ") else { return nil }
            return String(line.dropFirst(2))
        }
        let fromHelp = help.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("cloudc submit ") }
        return (fromReadme + fromHelp).map(withoutComment).filter { $0.contains(" -- ") }
    }

    /// The line without a trailing `   # comment` (two or more spaces, then `#`).
    static func withoutComment(_ line: String) -> String {
        guard let range = line.range(of: #"\s{2,}# .*$"#, options: .regularExpression) else { return line }
        return String(line[..<range.lowerBound])
    }

    /// The task rows of a `--dry-run` table (the header dropped).
    static func taskRows(_ stdout: String) -> [String] {
        Array(stdout.split(separator: "\n").map(String.init).dropFirst())
    }

    @Test func everyExampleMakesTheGridItPromises() async throws {
        let desk = try Self.desk()
        let help = try await desk.paste("cloudc submit --help", into: "/bin/bash")
        #expect(help.status == 0, "\(help.stderr)")
        let examples = try Self.examples(help: help.stdout)
        #expect(examples.count >= 5, "README and help examples found: \(examples)")
        for example in examples {
            let count = try #require(Self.promised[example], "a new example needs its task count in `promised`: \(example)")
            let dry = example.contains("--dry-run") ? example
                : example.replacingOccurrences(of: "cloudc submit ", with: "cloudc submit --dry-run ", options: .anchored)
            for shell in Self.shells {
                let run = try await desk.paste(dry, into: shell)
                #expect(run.status == 0, "\(shell): \(dry)\n\(run.stderr)")
                let rows = Self.taskRows(run.stdout)
                #expect(rows.count == count, "\(shell): \(dry) made \(rows.count) task(s), the example promises \(count):\n\(run.stdout)")
                #expect(run.stderr.contains("\(count) task(s)"), "\(run.stderr)")
            }
        }
    }

    /// The example with the local executor, run for real: two tasks, each given its own value.
    @Test func theLocalExampleRunsTwoTasks() async throws {
        let desk = try Self.desk()
        let submit = try await desk.paste("cloudc submit --executor local --dir ./code -- ./train.sh --lr '{0.1,0.01}'", into: "/bin/bash")
        #expect(submit.status == 0, "\(submit.stderr)")
        #expect(submit.stderr.contains("Submitting 2 task(s) (grid over lr) to this machine"), "\(submit.stderr)")
        let run = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let waited = try await desk.paste("cloudc jobs \(run) --wait --interval 0.2", into: "/bin/bash")
        #expect(waited.status == 0, "\(waited.stderr)")
        #expect(waited.stderr.contains("2 tasks: 2 done"), "\(waited.stderr)")
        let out = try await desk.paste("cloudc harvest \(run) --into got >/dev/null && cat got/1/args.txt got/2/args.txt", into: "/bin/bash")
        #expect(out.stdout == "args: --lr 0.1\nargs: --lr 0.01\n", "\(out.stdout)\(out.stderr)")
    }

    /// The braces unquoted, as a user pastes them from an older note: refused with the quoted
    /// command, which pasted back makes the 10 tasks.
    @Test func unquotedBracesAreCaughtAndTheSuggestionWorks() async throws {
        let desk = try Self.desk()
        for shell in Self.shells {
            let typed = try await desk.paste("cloudc submit --dry-run --dir ./code -- ./train.sh --lr {0.1,0.01} --seed {1..5}", into: shell)
            #expect(typed.status == 2, "\(shell): \(typed.stdout)\(typed.stderr)")
            #expect(typed.stdout.isEmpty, "nothing listed or submitted: \(typed.stdout)")
            #expect(typed.stderr.contains("looks expanded by your shell: '--lr 0.1 0.01' and '--seed 1 2 3 4 5'"), "\(typed.stderr)")
            let fix = try #require(typed.stderr.split(separator: "\n").first { $0.contains("fix:") }.map(String.init))
            let suggested = try #require(fix.range(of: "cloudc submit … -- ").map { fix[$0.upperBound...] })
            let command = try #require(suggested.range(of: " (or add --as-is").map { String(suggested[..<$0.lowerBound]) })
            #expect(command == "./train.sh --lr '{0.1,0.01}' --seed '{1..5}'")
            let pasted = try await desk.paste("cloudc submit --dry-run --dir ./code -- " + command, into: shell)
            #expect(pasted.status == 0 && Self.taskRows(pasted.stdout).count == 10, "\(shell): \(pasted.stdout)\(pasted.stderr)")
            // --as-is: the program does take several values; one task with all of them.
            let asIs = try await desk.paste("cloudc submit --dry-run --as-is -- ./train.sh --files {a,b}.csv", into: shell)
            #expect(asIs.status == 0 && Self.taskRows(asIs.stdout) == ["1     ./train.sh --files a.csv b.csv"], "\(shell): \(asIs.stdout)\(asIs.stderr)")
        }
    }
}
