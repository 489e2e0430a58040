import Foundation
@testable import Providers
import Testing

/// Host commands keep no descriptor open once they ended: a launch of many local nodes runs
/// hundreds of them, and each used to leave its two output files open.
@Suite struct HostCommandsTests {
    /// The descriptors of this process open on cloudc's output capture files.
    static func captureDescriptors() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).filter { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd))?.contains("/cloudc-out-") == true
        }.count
    }

    @Test func outputFilesAreClosedWhenACommandEnds() async throws {
        let commands = ProcessHostCommands()
        let before = Self.captureDescriptors()
        for index in 0..<100 {
            let result = try await commands.execute("sh", ["-c", "echo out \(index); echo err >&2"])
            #expect(result.status == 0 && result.stdout == "out \(index)\n" && result.stderr == "err\n")
        }
        let after = Self.captureDescriptors()
        // Other tests run alongside and hold a few while their commands run; 100 commands once held 200.
        #expect(after - before < 20, "\(after - before) capture files still open after 100 commands")
    }
}
