import CloudcCore
import Foundation
@testable import Providers
import Testing
import TestSupport

/// Root's inotify limits before local nodes boot: raised with a progress line, or a clear error.
/// A folder stands in for /proc/sys/fs/inotify (and an empty one for /proc).
@Suite struct InotifyLimitsTests {
    final class Lines: ProgressSink, @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func report(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    func limits(instances: Int, watches: Int) throws -> (InotifyLimits, TemporaryDirectory) {
        let folder = try TemporaryDirectory("cloudc-sysctl")
        _ = try folder.write("sys/max_user_instances", "\(instances)\n")
        _ = try folder.write("sys/max_user_watches", "\(watches)\n")
        try FileManager.default.createDirectory(atPath: folder.path + "/proc", withIntermediateDirectories: true)
        return (InotifyLimits(sysctlDirectory: folder.path + "/sys", procDirectory: folder.path + "/proc"), folder)
    }

    /// 30 nodes at 128 instances (this machine's default) failed with "Too many open files".
    @Test func thirtyNodesRaiseTheInstanceLimitAndSaySo() throws {
        let (limits, folder) = try limits(instances: 128, watches: 8192)
        let lines = Lines()
        let raised = try limits.ensure(nodes: 30, progress: lines)
        #expect(raised.map(\.name) == ["max_user_instances", "max_user_watches"])
        #expect(try String(contentsOfFile: folder.path + "/sys/max_user_instances", encoding: .utf8) == "512\n")
        #expect(try String(contentsOfFile: folder.path + "/sys/max_user_watches", encoding: .utf8) == "32768\n")
        #expect(lines.all.first == "Raised fs.inotify.max_user_instances from 128 to 512 for 30 more node(s) (until reboot; "
                + "keep it with fs.inotify.max_user_instances=512 in /etc/sysctl.d/)")
    }

    @Test func roomEnoughChangesNothing() throws {
        let (limits, folder) = try limits(instances: 128, watches: 524288)
        let lines = Lines()
        #expect(try limits.ensure(nodes: 3, progress: lines).isEmpty)
        #expect(lines.all.isEmpty)
        #expect(try String(contentsOfFile: folder.path + "/sys/max_user_instances", encoding: .utf8) == "128\n")
    }

    @Test func aLimitThatCannotBeRaisedIsNamedWithTheCommand() throws {
        let (limits, folder) = try limits(instances: 128, watches: 524288)
        // /proc/sys is read-only in some containers. A read-only sysctl stands in for the
        // setting: root reads it (a small number) and may not write it.
        _ = try folder.write("ro/max_user_watches", "524288\n")
        try FileManager.default.createSymbolicLink(atPath: folder.path + "/ro/max_user_instances",
                                                   withDestinationPath: "/proc/sys/kernel/cap_last_cap")
        let readOnly = InotifyLimits(sysctlDirectory: folder.path + "/ro", procDirectory: limits.procDirectory)
        let error = try #require(throws: CloudcError.self) { try readOnly.ensure(nodes: 30, progress: SilentProgress()) }
        #expect(error.code == .unsupported)
        let limit = try String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(error.message.contains("fs.inotify.max_user_instances is \(limit)"), "\(error.message)")
        #expect(error.message.contains("Too many open files"))
        #expect(error.fix?.contains("sysctl -w fs.inotify.max_user_instances=512") == true, "\(error.fix ?? "")")
    }
}
