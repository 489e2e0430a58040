import CloudcCore
@testable import Executors
import Foundation
import SSH
import Testing
import TestSupport

/// What a job (or another user of the shared /home) can put in its run folder must never make
/// `cloudc harvest` write outside the folder it harvests into. The "cluster" is this machine:
/// a real sh and find list the run folder, as on a frontend.
@Suite struct HarvestSafetyTests {
    /// A shell on this machine, as the frontend's would be.
    struct ThisMachine: RemoteShell {
        let endpoint = SSHEndpoint(host: "127.0.0.1", user: "root")
        func exec(_ command: String, stdin: [UInt8]?, onOutput: (@Sendable (OutputChunk) -> Void)?) async throws -> ExecResult {
            let run = try await Run.programOffPool("/bin/sh", ["-c", command])
            return ExecResult(status: run.status, stdout: run.stdout, stderr: run.stderr)
        }
        func upload(_ data: [UInt8], to path: String, mode: Int32, owner: String?) async throws {
            guard FileManager.default.createFile(atPath: path, contents: Data(data), attributes: [.posixPermissions: Int(mode)]) else {
                throw CloudcError(.io, "cannot write \(path)")
            }
        }
        func download(_ path: String) async throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: path) else { throw CloudcError(.notFound, "no file \(path)") }
            return [UInt8](data)
        }
        func close() async {}
    }

    func record(_ directory: String) -> RunRecord {
        RunRecord(id: "r1", cluster: "lab", executor: .slurm, createdAt: Date(timeIntervalSince1970: 0),
                  spec: JobSpec(words: ["true"], names: [], tasks: [GridTask(index: 1, values: [], command: "true")], resources: Resources(),
                                workDirectory: nil),
                  directory: directory, taskIndexes: [1], jobIDs: ["41"], arrayOffsets: [0])
    }

    /// The demonstrated attack: a folder named "a<newline>.." makes `find` print a line
    /// `../outside/FILE`; a harvest that splits on newlines writes DEST/../outside/FILE.
    @Test func aNewlineInANameCannotClimbOutOfTheHarvest() async throws {
        let top = try TemporaryDirectory("cloudc-harvest-attack")
        let run = top.path + "/cluster/run"
        _ = try top.write("cluster/run/tasks/1/stdout", "ok\n")
        _ = try top.write("cluster/run/tasks/1/a\n../outside/FILE", "planted\n")   // what the job made
        _ = try top.write("cluster/run/outside/FILE", "[core]\n\tfsmonitor = touch /tmp/pwned\n")
        let destination = top.path + "/me/r1"
        let lines = CapturedLines()
        try await SlurmExecutor(shell: ThisMachine()).collect(record(run), tasks: [1], into: destination, progress: lines)

        #expect(!FileManager.default.fileExists(atPath: top.path + "/me/outside/FILE"), "harvest wrote outside its folder")
        #expect(!FileManager.default.fileExists(atPath: top.path + "/me/r1/../outside"))
        #expect(try String(contentsOfFile: destination + "/1/stdout", encoding: .utf8) == "ok\n")
        // The odd name is copied as the one name it is, inside the harvest.
        #expect(try String(contentsOfFile: destination + "/1/a\n../outside/FILE", encoding: .utf8) == "planted\n")
    }

    /// A link in the harvest folder (planted, or left by another tool) is not written through.
    @Test func aLinkInTheHarvestFolderIsNotFollowed() async throws {
        let top = try TemporaryDirectory("cloudc-harvest-link")
        let run = top.path + "/cluster/run"
        _ = try top.write("cluster/run/tasks/1/config", "[core]\n\tfsmonitor = evil\n")
        let target = try top.write("me/project/.git/config", "[core]\n")
        let destination = top.path + "/me/r1"
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: destination + "/1", withDestinationPath: top.path + "/me/project/.git")
        await #expect(throws: CloudcError.self) {
            try await SlurmExecutor(shell: ThisMachine()).collect(record(run), tasks: [1], into: destination, progress: SilentProgress())
        }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "[core]\n")
    }

    @Test(arguments: ["../x", "/etc/passwd", "a/../../x", "a//b", "./a", "a/.", ""])
    func pathsThatLeaveTheirFolderAreNotPlainNames(_ path: String) {
        #expect(SafeFiles.components(path) == nil)
    }

    @Test func plainNamesAreKept() {
        #expect(SafeFiles.components("1/a\n../outside/FILE") == ["1", "a\n..", "outside", "FILE"])
        #expect(SafeFiles.components("1/results.csv") == ["1", "results.csv"])
    }
}

final class CapturedLines: ProgressSink, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func report(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
