import CloudcCore
import Foundation
import Testing

@Suite struct ProcFileTests {
    /// /proc files stat as empty and are generated as they are read: all of one must come back,
    /// however long (a 20 KB environment here; the mount table of several clusters in use).
    @Test func aLongProcFileIsReadToItsEnd() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["5"]
        process.environment = ["FILLER": String(repeating: "x", count: 20_000), "MARKER": "at-the-end"]
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        // Right after the fork the child may still be in execve, when its environment reads empty.
        var environ = Data()
        for _ in 0..<200 where environ.isEmpty {
            environ = ProcFile.data("/proc/\(process.processIdentifier)/environ") ?? Data()
            if environ.isEmpty { usleep(10_000) }
        }
        #expect(environ.count > 20_000)
        let entries = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(entries.contains("MARKER=at-the-end"))
        #expect(ProcFile.text("/proc/self/mounts")?.contains(" / ") == true)
        #expect(ProcFile.data("/proc/no-such-file") == nil)
    }
}
