import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the private key file says about itself, read without decrypting it: whether it needs
/// a passphrase, and (OpenSSH format) its public key, to pick the matching ssh-agent identity.
struct PrivateKeyFile {
    let path: String
    let isEncrypted: Bool
    /// The public key blob (SSH wire format), when the file or its `.pub` names it.
    let publicKey: [UInt8]?

    init(identity: SSHIdentity) throws {
        let path = identity.privateKeyPath
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw CloudcError(.credentials, "the private key \(path) does not exist",
                              fix: "check the login's private key path, or create a key with: ssh-keygen -t ed25519 -f \(path)")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CloudcError(.credentials, "cannot read the private key \(path)",
                              fix: "check that this user may read it (chmod 600 \(path))", cause: error.localizedDescription)
        }
        if let body = Self.pemBody(text, label: "OPENSSH PRIVATE KEY") {
            let parsed = Self.parseOpenSSH(body)
            isEncrypted = parsed.encrypted
            publicKey = parsed.publicKey ?? Self.publicKey(atPath: identity.publicKeyPath ?? path + ".pub")
        } else {
            // PEM (PKCS#1 / PKCS#8): "Proc-Type: 4,ENCRYPTED" or "BEGIN ENCRYPTED PRIVATE KEY".
            isEncrypted = text.contains("ENCRYPTED")
            publicKey = Self.publicKey(atPath: identity.publicKeyPath ?? path + ".pub")
        }
    }

    /// The base64 body between `-----BEGIN label-----` and `-----END label-----`, decoded.
    static func pemBody(_ text: String, label: String) -> [UInt8]? {
        guard let begin = text.range(of: "-----BEGIN \(label)-----"),
              let end = text.range(of: "-----END \(label)-----", range: begin.upperBound..<text.endIndex) else { return nil }
        let base64 = text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        return Data(base64Encoded: String(base64)).map { [UInt8]($0) }
    }

    /// `openssh-key-v1`: magic, cipher name, KDF name, KDF options, key count, public key, …
    /// An unreadable file counts as encrypted: libssh2 then says what is wrong with it.
    static func parseOpenSSH(_ bytes: [UInt8]) -> (encrypted: Bool, publicKey: [UInt8]?) {
        var reader = WireReader(bytes)
        guard reader.take(15) == Array("openssh-key-v1\0".utf8),
              let cipher = reader.string(),
              reader.string() != nil, reader.string() != nil,
              let count = reader.uint32() else { return (true, nil) }
        let encrypted = cipher != Array("none".utf8)
        return (encrypted, count >= 1 ? reader.string() : nil)
    }

    /// The key blob of an OpenSSH public key file (`type base64 comment`).
    static func publicKey(atPath path: String) -> [UInt8]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count >= 2, let blob = Data(base64Encoded: String(fields[1])) else { return nil }
        return [UInt8](blob)
    }

    /// The key type a public key blob starts with (`ssh-ed25519`, …).
    static func keyType(ofBlob blob: [UInt8]) -> String? {
        var reader = WireReader(blob)
        return reader.string().map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Reads SSH wire-format fields: big-endian uint32, and strings prefixed by their length.
struct WireReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func uint32() -> UInt32? {
        guard let four = take(4) else { return nil }
        return four.reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func string() -> [UInt8]? {
        guard let length = uint32(), length <= UInt32(Int32.max) else { return nil }
        return take(Int(length))
    }
}

/// A passphrase typed at the terminal, shared by the copies of one `SSHIdentity`, so that
/// sixty-four sessions starting together ask once. Asking holds the lock: the others wait,
/// then use the answer.
final class PromptedPassphrase: @unchecked Sendable {
    private let lock = NSLock()
    private var answer: Secret?

    /// The remembered answer, or a new one from `ask` (nil: nobody to ask).
    func get(_ ask: () throws -> Secret?) rethrows -> Secret? {
        lock.lock()
        defer { lock.unlock() }
        if let answer { return answer }
        answer = try ask()
        return answer
    }

    /// Forgets `rejected` (a wrong answer), unless another session already replaced it.
    func forget(_ rejected: Secret) {
        lock.lock()
        defer { lock.unlock() }
        if answer == rejected { answer = nil }
    }
}

/// Asks on the controlling terminal, with echo off.
enum TerminalPrompt {
    /// nil when there is no terminal to ask on, or nothing was typed before end of input.
    static func readSecret(_ prompt: String) -> Secret? {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        var saved = termios()
        let haveTerminal = tcgetattr(fd, &saved) == 0
        if haveTerminal {
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(fd, TCSAFLUSH, &silent)
        }
        defer {
            if haveTerminal { _ = tcsetattr(fd, TCSAFLUSH, &saved) }
            _ = write(fd, "\n", 1)
        }
        let text = Array(prompt.utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var typed: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            // End of input before a line: the user gave up (Ctrl-D).
            if n <= 0 { return typed.isEmpty ? nil : Secret(String(decoding: typed, as: UTF8.self)) }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
            typed.append(byte)
        }
        return Secret(String(decoding: typed, as: UTF8.self))
    }
}
