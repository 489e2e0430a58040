import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc start` holds the cluster's lock from its first read of the state to the end of its
/// setup: a second cloudc that comes between the launch and the setup is refused, never run there.
@Suite(.serialized, .needsPeer) struct OneLockTests {
    final class Box: @unchecked Sendable { var result: UserMachine.Result? }

    @Test func noOtherCloudcRunsBetweenTheLaunchAndTheSetupOfAStart() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            let log = user.home.path + "/start.log"
            FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            defer { try? handle.close() }
            let second = Box()
            // The built binary, held at the moment between its launch and its setup.
            let reached = try await user.runCloudcKilled(["start", "aws-demo", "--no-setup"], seconds: 120, stderr: handle,
                                                         environment: ["CLOUDC_PAUSEPOINT": "start.before-setup", "CLOUDC_PAUSE_SECONDS": "60"]) {
                guard (try? String(contentsOfFile: log, encoding: .utf8))?.contains("Paused at start.before-setup") == true else { return false }
                second.result = await user.cloudc("setup", "aws-demo")
                return true
            }
            #expect(reached, "the start never reached the point between its launch and its setup: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            let result = try #require(second.result)
            #expect(result.status != 0 && result.stderr.contains("in use by another cloudc process"), "\(result.stderr)")
            #expect(!result.stderr.contains("no setup"), "the second cloudc ran: \(result.stderr)")
            // The killed start is finished by the next one, and the cluster goes.
            let again = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(again.status == 0, "\(again.stderr)")
            #expect(await user.cloudc("stop", "aws-demo").status == 0)
        }
    }
}
