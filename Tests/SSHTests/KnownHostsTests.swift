import CloudcCore
import Foundation
@testable import SSH
import Testing
import TestSupport

@Suite struct KnownHostsTests {
    let keyA: [UInt8] = Array("\u{0}\u{0}\u{0}\u{0B}ssh-ed25519 key A".utf8)
    let keyB: [UInt8] = Array("\u{0}\u{0}\u{0}\u{0B}ssh-ed25519 key B".utf8)

    @Test func hostPatternsAreOpenSSHs() {
        #expect(KnownHosts.hostPattern(host: "10.0.0.5", port: 22) == "10.0.0.5")
        #expect(KnownHosts.hostPattern(host: "10.0.0.5", port: 2222) == "[10.0.0.5]:2222")
    }

    @Test func recordsThenMatchesThenRefusesAChangedKey() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/cluster/known_hosts"
        let hosts = KnownHosts(path: path)
        #expect(try hosts.verify(host: "10.0.0.5", port: 22, keyType: "ssh-ed25519", key: keyA, fingerprint: "SHA256:a") == .recorded)
        #expect(try hosts.verify(host: "10.0.0.5", port: 22, keyType: "ssh-ed25519", key: keyA, fingerprint: "SHA256:a") == .matched)
        #expect(try hosts.verify(host: "10.0.0.6", port: 2222, keyType: "ssh-ed25519", key: keyB, fingerprint: "SHA256:b") == .recorded)
        #expect(try hosts.keyTypes(host: "10.0.0.6", port: 2222) == ["ssh-ed25519"])
        #expect(try hosts.keyTypes(host: "10.0.0.6", port: 22) == [])
        #expect(try fileMode(path) == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == "10.0.0.5 ssh-ed25519 \(Data(keyA).base64EncodedString())\n[10.0.0.6]:2222 ssh-ed25519 \(Data(keyB).base64EncodedString())\n")

        let error = try #require(throws: CloudcError.self) {
            try hosts.verify(host: "10.0.0.6", port: 2222, keyType: "ssh-ed25519", key: keyA, fingerprint: "SHA256:zzz")
        }
        #expect(error.code == .hostKey)
        #expect(error.message == "the host key of [10.0.0.6]:2222 (ssh-ed25519 SHA256:zzz) differs from the one recorded on first contact in \(path) line 2")
        #expect(error.fix?.contains("delete line 2 of \(path)") == true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
    }

    /// Keys told out of band are pinned before any contact: the first connection is checked, not
    /// trusted; a stale pin of the address (an earlier node there) is replaced.
    @Test func keysPinnedBeforeContactMakeTheFirstConnectionChecked() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/known_hosts"
        try "# mine\n10.0.0.5 ssh-ed25519 \(Data(keyB).base64EncodedString())\n10.0.0.7 ssh-ed25519 \(Data(keyB).base64EncodedString())\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let hosts = KnownHosts(path: path)
        try hosts.pin(host: "10.0.0.5", keys: ["ssh-ed25519 \(Data(keyA).base64EncodedString())"])
        // An impostor answering first with its own key is refused.
        #expect(throws: CloudcError.self) {
            try hosts.verify(host: "10.0.0.5", port: 22, keyType: "ssh-ed25519", key: keyB, fingerprint: "SHA256:impostor")
        }
        #expect(try hosts.verify(host: "10.0.0.5", port: 22, keyType: "ssh-ed25519", key: keyA, fingerprint: "SHA256:a") == .matched)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == "# mine\n10.0.0.7 ssh-ed25519 \(Data(keyB).base64EncodedString())\n10.0.0.5 ssh-ed25519 \(Data(keyA).base64EncodedString())\n")
        try hosts.pin(host: "10.0.0.5", keys: ["ssh-ed25519 \(Data(keyA).base64EncodedString())"])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text, "pinning the same keys again changes nothing")
    }

    @Test func otherLinesAreKeptAndNeverMatch() throws {
        let directory = try TemporaryDirectory()
        let original = "# comment 10.0.0.5\n|1|c2FsdA==|aGFzaA== ssh-ed25519 AAAA\n@revoked 10.0.0.5 ssh-ed25519 \(Data(keyB).base64EncodedString())\n10.0.0.50 ssh-ed25519 \(Data(keyB).base64EncodedString())"
        let path = try directory.write("known_hosts", original)
        let hosts = KnownHosts(path: path)
        #expect(try hosts.verify(host: "10.0.0.5", port: 22, keyType: "ssh-ed25519", key: keyA, fingerprint: "") == .recorded)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == original + "\n10.0.0.5 ssh-ed25519 \(Data(keyA).base64EncodedString())\n")
        #expect(try hosts.forget(host: "10.0.0.5") == 1)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == original + "\n")
    }

    @Test func aKnownHostWithOnlyAnotherKeyTypeIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("known_hosts", "node1,10.0.0.7 ssh-rsa \(Data(keyB).base64EncodedString())\n")
        let hosts = KnownHosts(path: path)
        #expect(try hosts.keyTypes(host: "NODE1", port: 22) == ["ssh-rsa"], "host names compare without case")
        let error = try #require(throws: CloudcError.self) {
            try hosts.verify(host: "10.0.0.7", port: 22, keyType: "ssh-ed25519", key: keyA, fingerprint: "")
        }
        #expect(error.message.hasSuffix("line 1"))
    }

    @Test func concurrentFirstContactsAreAllRecorded() async throws {
        let directory = try TemporaryDirectory()
        let hosts = KnownHosts(path: directory.path + "/known_hosts")
        let key = keyA
        _ = try await forEachBounded(Array(0..<64), limit: 64) { index in
            try hosts.verify(host: "10.0.1.\(index)", port: 22, keyType: "ssh-ed25519", key: key, fingerprint: "")
        }
        let lines = try String(contentsOfFile: hosts.path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 64)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["known_hosts"])
    }
}

@Suite struct StreamTextTests {
    @Test func piecesNeverSplitACharacter() {
        let bytes = Array("é€😀a".utf8)
        for cut in 0...bytes.count {
            var stream = StreamText()
            var pieces = ""
            bytes[..<cut].withUnsafeBufferPointer { pieces += stream.append($0[...]) }
            bytes[cut...].withUnsafeBufferPointer { pieces += stream.append($0[...]) }
            #expect(pieces == "é€😀a", "cut at \(cut)")
            #expect(stream.finish() == nil)
        }
        var broken = StreamText()
        #expect([UInt8]([0x61, 0xE2, 0x82]).withUnsafeBufferPointer { broken.append($0[...]) } == "a")
        #expect(broken.finish() == "\u{FFFD}")
    }

    @Test func keyFilesSayWhetherTheyAreEncrypted() throws {
        let directory = try TemporaryDirectory()
        let plain = try makeSSHKey(in: directory.path)
        let locked = try makeEncryptedKey(in: directory.path, name: "locked", passphrase: "pw")
        let plainFile = try PrivateKeyFile(identity: SSHIdentity(privateKeyPath: plain))
        let lockedFile = try PrivateKeyFile(identity: SSHIdentity(privateKeyPath: locked))
        #expect(!plainFile.isEncrypted)
        #expect(lockedFile.isEncrypted)
        #expect(plainFile.publicKey == PrivateKeyFile.publicKey(atPath: plain + ".pub"))
        #expect(lockedFile.publicKey == PrivateKeyFile.publicKey(atPath: locked + ".pub"))
        #expect(lockedFile.publicKey.flatMap(PrivateKeyFile.keyType(ofBlob:)) == "ssh-ed25519")
    }
}
