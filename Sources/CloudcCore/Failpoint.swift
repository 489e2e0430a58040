import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Named points where cloudc kills itself with SIGKILL when `CLOUDC_FAILPOINT` names them: a
/// power cut at a moment no outside timing can hit (the last step before a state file goes).
/// Tests use it to prove that the next run of the command finishes the job.
public enum Failpoint {
    public static func kill(at name: String) {
        guard ProcessInfo.processInfo.environment["CLOUDC_FAILPOINT"] == name else { return }
        _ = Glibc.kill(getpid(), SIGKILL)
    }

    /// Where `CLOUDC_PAUSEPOINT` names this point, says so and waits `CLOUDC_PAUSE_SECONDS`
    /// (default 30): a moment held open for a test to act in (a second cloudc, a signal).
    public static func pause(at name: String, progress: any ProgressSink) {
        let environment = ProcessInfo.processInfo.environment
        guard environment["CLOUDC_PAUSEPOINT"] == name else { return }
        progress.report("Paused at \(name)")
        Thread.sleep(forTimeInterval: environment["CLOUDC_PAUSE_SECONDS"].flatMap(Double.init) ?? 30)
    }
}
