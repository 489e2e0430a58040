import Foundation
@testable import Providers
import TestSupport
import Testing

/// Host keys read from a console log as cloud-init prints them (keys made by OpenSSH's
/// ssh-keygen), wrapped at 80 columns and with `\r\n` ends the way EC2's console hands them back.
@Suite struct ConsoleHostKeysTests {
    /// `type base64` of a new key of each kind ssh-keygen makes; rsa 2048's base64 has no padding.
    static func keys() throws -> [String] {
        let directory = FileManager.default.temporaryDirectory.path + "/console-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var keys: [String] = []
        for (type, bits) in [("ed25519", ""), ("ecdsa", "256"), ("ecdsa", "521"), ("rsa", "2048"), ("rsa", "3072")] {
            let path = "\(directory)/\(type)\(bits)"
            let run = try Run.program("/usr/bin/ssh-keygen", ["-q", "-t", type] + (bits.isEmpty ? [] : ["-b", bits])
                                      + ["-N", "", "-C", "root@compute001", "-f", path])
            try #require(run.status == 0, "\(run.stderr)")
            let line = try String(contentsOfFile: path + ".pub", encoding: .utf8)
            keys.append(line.split(separator: " ").prefix(2).joined(separator: " "))
        }
        return keys
    }

    /// A console as a terminal of 80 columns shows it: long lines cut every 80 characters.
    static func wrapped(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var rest = Substring(line), pieces: [Substring] = []
            while rest.count > 80 { pieces.append(rest.prefix(80)); rest = rest.dropFirst(80) }
            pieces.append(rest)
            return pieces.joined(separator: "\r\n")
        }.joined(separator: "\r\n")
    }

    static func console(_ keys: [String], finished: Bool = true) -> String {
        """
        [    0.000000] Linux version 6.1.0-26-cloud-amd64 (debian-kernel@lists.debian.org)
        <14>Dec  5 05:40:01 ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
        <14>Dec  5 05:40:01 ec2: 256 SHA256:xu3vlG1BReKDy3DsuMZc root@compute001 (ED25519)
        <14>Dec  5 05:40:01 ec2: -----END SSH HOST KEY FINGERPRINTS-----
        -----BEGIN SSH HOST KEY KEYS-----
        \(keys.map { $0 + " root@compute001" }.joined(separator: "\n"))
        -----END SSH HOST KEY KEYS-----
        \(finished ? "[   21.5] cloud-init[812]: Cloud-init v. 22.4.2 finished at Sat, 05 Dec 2026 05:40:02 +0000. Up 21.50 seconds" : "")
        """
    }

    @Test func keysWrappedAt80ColumnsAreReadWhole() throws {
        let keys = try Self.keys()
        #expect(ConsoleHostKeys.read(Self.wrapped(Self.console(keys))) == .keys(keys.sorted()))
        #expect(ConsoleHostKeys.read(Self.console(keys)) == .keys(keys.sorted()))
    }

    /// A wrap that falls on the space before the comment joins the comment to the key's text.
    @Test func aCommentJoinedToTheKeyIsCutOffByTheKeysOwnLength() throws {
        let keys = try Self.keys()
        let joined = "-----BEGIN SSH HOST KEY KEYS-----\r\n"
            + keys.map { $0 + "\r\nroot@compute001" }.joined(separator: "\r\n") + "\r\n-----END SSH HOST KEY KEYS-----\r\n"
        #expect(ConsoleHostKeys.read(joined) == .keys(keys.sorted()))
        let noSpace = "-----BEGIN SSH HOST KEY KEYS-----\n" + keys.map { $0 + "root" }.joined(separator: "\n") + "\n-----END SSH HOST KEY KEYS-----"
        #expect(ConsoleHostKeys.read(noSpace) == .keys(keys.sorted()))
    }

    @Test func anEmptyOrUnfinishedConsoleIsNotYet() throws {
        let keys = try Self.keys()
        #expect(ConsoleHostKeys.read("") == .notYet)
        #expect(ConsoleHostKeys.read("[    0.000000] Linux version 6.1.0\n[    1.2] systemd[1]: Starting sshd\n") == .notYet)
        let cut = Self.console(keys)
        let half = String(cut.prefix(upTo: cut.range(of: "-----END")!.lowerBound))
        #expect(ConsoleHostKeys.read(half) == .notYet)
    }

    /// cloud-init ended its boot without printing keys (`emit_keys_to_console: false`): none come.
    @Test func aFinishedBootWithoutKeysIsNone() {
        let console = "[    0.0] Linux version 6.1.0\n[   20.1] cloud-init[812]: Cloud-init v. 22.4.2 finished at Sat, 05 Dec 2026 05:40:02 +0000. Datasource DataSourceEc2Local.  Up 20.10 seconds\n"
        #expect(ConsoleHostKeys.read(console) == .none)
    }

    /// A reboot prints the block again: the last one counts.
    @Test func theLastBlockCounts() throws {
        let keys = try Self.keys()
        #expect(ConsoleHostKeys.read(Self.console([keys[0]]) + "\n" + Self.console([keys[1]])) == .keys([keys[1]]))
    }

    /// Text that is not a key of the type it claims, or has a field missing, is not taken.
    @Test func malformedKeysAreRefused() throws {
        let keys = try Self.keys()
        let ed25519 = keys[0].split(separator: " ")[1]
        let rsa = keys[3].split(separator: " ")[1]
        for line in ["ssh-rsa \(ed25519)", "ssh-ed25519 \(ed25519.prefix(40))", "ssh-ed25519 !!!!", "ssh-dss \(rsa)", "ssh-ed25519"] {
            #expect(ConsoleHostKeys.read(Self.console([line])) == .none, "\(line)")
        }
    }
}
