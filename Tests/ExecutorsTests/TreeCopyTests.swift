import CloudcCore
@testable import Executors
import Foundation
import Testing
import TestSupport

@Suite struct TreeCopyTests {
    @Test func copiesOnlyWhatChangedAndKeepsModesAndLinks() throws {
        let source = try TemporaryDirectory("cloudc-copy-src")
        let target = try TemporaryDirectory("cloudc-copy-dst")
        let script = try source.write("bin/run.sh", "#!/bin/sh\necho hi\n")
        chmod(script, 0o750)
        _ = try source.write("data/a.txt", "a\n")
        _ = try source.write("data/b.txt", "b\n")
        #expect(symlink("data/a.txt", source.path + "/a-link") == 0)
        #expect(symlink(source.path + "/data/b.txt", source.path + "/data/b-absolute") == 0)
        let destination = target.path + "/work"

        let first = try TreeCopy.mirror(from: source.path, to: destination)
        #expect(first.copied == 5)
        #expect(first.unchanged == 0)
        #expect(try mode(destination + "/bin/run.sh") == 0o750)
        #expect(try String(contentsOfFile: destination + "/a-link", encoding: .utf8) == "a\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: destination + "/a-link") == "data/a.txt")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: destination + "/data/b-absolute") == "b.txt")

        let second = try TreeCopy.mirror(from: source.path, to: destination)
        #expect(second == TreeCopy.Counts(copied: 0, unchanged: 5, removed: 0, bytes: 0))

        // One file changed, one removed, one mode changed: exactly those are touched.
        _ = try source.write("data/a.txt", "a changed\n")
        try FileManager.default.removeItem(atPath: source.path + "/data/b.txt")
        try FileManager.default.removeItem(atPath: source.path + "/data/b-absolute")
        chmod(script, 0o700)
        let third = try TreeCopy.mirror(from: source.path, to: destination)
        #expect(third.copied == 1)
        #expect(third.removed == 2)
        #expect(try String(contentsOfFile: destination + "/data/a.txt", encoding: .utf8) == "a changed\n")
        #expect(!FileManager.default.fileExists(atPath: destination + "/data/b.txt"))
        #expect(try mode(destination + "/bin/run.sh") == 0o700)
    }

    @Test func refusesLinksThatLeaveTheFolder() throws {
        let source = try TemporaryDirectory("cloudc-copy-src")
        let target = try TemporaryDirectory("cloudc-copy-dst")
        #expect(symlink("/etc/hostname", source.path + "/host") == 0)
        let error = try #require(throws: CloudcError.self) { try TreeCopy.mirror(from: source.path, to: target.path + "/w") }
        #expect(error.message == "the work folder's link \(source.path)/host points outside it (to /etc/hostname)")

        try FileManager.default.removeItem(atPath: source.path + "/host")
        _ = try source.write("sub/x", "x")
        #expect(symlink("../../elsewhere", source.path + "/sub/up") == 0)
        #expect(throws: CloudcError.self) { try TreeCopy.mirror(from: source.path, to: target.path + "/w") }
    }

    @Test func outputsSkipLinksAndTheNamesGiven() throws {
        let task = try TemporaryDirectory("cloudc-copy-task")
        let into = try TemporaryDirectory("cloudc-copy-into")
        _ = try task.write("command", "x")
        _ = try task.write("stdout", "out")
        _ = try task.write("models/m.bin", "m")
        _ = try task.write("linked-only/keep", "k")
        try FileManager.default.removeItem(atPath: task.path + "/linked-only/keep")
        #expect(symlink("/etc/hostname", task.path + "/linked-only/l") == 0)
        #expect(symlink("/etc/hostname", task.path + "/l") == 0)
        let counts = try TreeCopy.copyOutputs(from: task.path, to: into.path + "/1", skipping: ["command"])
        #expect(counts.copied == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: into.path + "/1").sorted() == ["models", "stdout"])
        #expect(try TreeCopy.copyOutputs(from: task.path, to: into.path + "/1", skipping: ["command"]).unchanged == 2)
    }

    @Test func tailReadsTheLastLines() throws {
        let dir = try TemporaryDirectory("cloudc-tail")
        let path = try dir.write("stderr", (1...1000).map { "line \($0)" }.joined(separator: "\n") + "\n")
        #expect(LocalExecutor.tail(of: path, lines: 3) == "line 998\nline 999\nline 1000")
        #expect(LocalExecutor.tail(of: path, lines: 3, window: 20) == "line 999\nline 1000")
        #expect(LocalExecutor.tail(of: dir.path + "/none", lines: 3) == "")
        let short = try dir.write("short", "only")
        #expect(LocalExecutor.tail(of: short, lines: 10) == "only")
    }

    func mode(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CloudcError(.io, "no \(path)") }
        return Int(info.st_mode & 0o7777)
    }
}
