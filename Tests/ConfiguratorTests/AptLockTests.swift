import Foundation
import Testing
import TestSupport
@testable import Configurator

/// At a VM's first boot, unattended-upgrades or apt-daily may hold apt's locks while setup wants
/// to install: setup waits for them, and fails at once on anything else. The shell function runs
/// in the real `sh` here, with a stand-in apt that prints what Debian's apt prints.
@Suite struct AptLockTests {
    /// A command that fails `lockedTimes` times with apt's lock message, then with `then`.
    static func fakeApt(in directory: String, lockedTimes: Int, then status: Int32, message: String = "") throws -> String {
        let path = directory + "/apt-get"
        try """
            #!/bin/sh
            n=$(cat \(directory)/count 2>/dev/null || echo 0); echo $((n + 1)) > \(directory)/count
            if [ "$n" -lt \(lockedTimes) ]; then
              echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 812 (unattended-upgr)" >&2
              exit 100
            fi
            echo "\(message)" >&2
            exit \(status)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    static func run(_ apt: String) throws -> Run {
        // Read by sh, not executed: a file just written may still be open in a child another test
        // forked meanwhile, and executing it would fail with "Text file busy".
        try Run.program("/bin/sh", ["-c", NodeRunner.waitingForAptLocks + "apt_waiting sh \(apt) install -y munge"],
                        environment: ["APT_LOCK_PAUSE": "0.05", "PATH": "/usr/bin:/bin"])
    }

    @Test func aHeldLockIsWaitedFor() throws {
        let directory = try TemporaryDirectory("cloudc-apt")
        let result = try Self.run(try Self.fakeApt(in: directory.path, lockedTimes: 3, then: 0))
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.components(separatedBy: "waiting for another apt to finish").count - 1 == 3)
        #expect(try String(contentsOfFile: directory.path + "/count", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "4")
    }

    @Test func anyOtherFailureIsFinalAtOnceWithAptsWords() throws {
        let directory = try TemporaryDirectory("cloudc-apt")
        let result = try Self.run(try Self.fakeApt(in: directory.path, lockedTimes: 0, then: 100,
                                                   message: "E: Unable to locate package munge"))
        #expect(result.status == 100)
        #expect(result.stdout.contains("E: Unable to locate package munge"), "apt's last lines are kept: \(result.stdout)")
        #expect(try String(contentsOfFile: directory.path + "/count", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }
}
