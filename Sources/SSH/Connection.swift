import CLibSSH2
import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The synchronous core of an `SSHSession`: a connected, authenticated libssh2 session.
/// Every method blocks, so every method runs on the session's `JobThread`.
final class Connection {
    let endpoint: SSHEndpoint
    let session: SessionHandle
    /// How long one step (a channel open, an SFTP request) may wait for the node.
    let stepTimeout: Double
    var sftp: SFTPHandle?
    /// The thread carrying this session through a jump host, if it goes through one.
    private let tunnel: TunnelPump?

    /// Host key algorithms, best first: ed25519 wherever the node has it.
    static let hostKeyAlgorithms = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa",
    ]

    /// Connects, checks the host key against `knownHosts`, and logs in, all within `timeout`
    /// seconds (a passphrase prompt restarts the clock).
    init(endpoint: SSHEndpoint, identity: SSHIdentity, knownHosts: KnownHosts, timeout: Double, cancelled: CancelFlag) throws {
        let limit = deadline(after: timeout)
        let socket: Int32
        if let jump = endpoint.jump {
            let tunnel = try Tunnel.open(to: endpoint, via: jump, identity: identity, knownHosts: knownHosts, timeout: timeout, cancelled: cancelled)
            (socket, self.tunnel) = (tunnel.socket, tunnel.pump)
        } else {
            socket = try TCPConnect.open(endpoint, until: limit, timeout: timeout, cancelled: cancelled)
            self.tunnel = nil
        }
        self.session = try SessionHandle(socket: socket, peer: endpoint.description, cancelled: cancelled)
        self.endpoint = endpoint
        self.stepTimeout = max(timeout, 30)
        try handshake(knownHosts: knownHosts, until: limit)
        try authenticate(identity, until: limit, timeout: timeout)
    }

    var peer: String { endpoint.description }

    // MARK: Handshake and host key

    /// Key exchanges, cheapest first: X25519, which libssh2 and OpenSSH share (one scalar
    /// multiplication a side); the NIST curves and finite-field groups for servers without it.
    /// A name libssh2 does not know is left out of what it offers.
    static let keyExchanges = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
        + "ecdh-sha2-nistp521,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256"

    private func handshake(knownHosts: KnownHosts, until limit: ContinuousClock.Instant) throws {
        // Once a host is known, ask only for the key types recorded for it (as OpenSSH does),
        // so a node with several host keys is checked against the one pinned.
        let known = Set(try knownHosts.keyTypes(host: endpoint.host, port: endpoint.port))
        var algorithms = Self.hostKeyAlgorithms.filter { known.contains($0.hasPrefix("rsa-sha2-") ? "ssh-rsa" : $0) }
        if algorithms.isEmpty { algorithms = Self.hostKeyAlgorithms }
        let list = algorithms.joined(separator: ",")
        guard libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_HOSTKEY, list) == 0 else {
            throw session.error(.internalError, "libssh2 accepts none of the host key algorithms \(list)")
        }
        guard libssh2_session_method_pref(session.raw, LIBSSH2_METHOD_KEX, Self.keyExchanges) == 0 else {
            throw session.error(.internalError, "libssh2 accepts none of the key exchanges \(Self.keyExchanges)")
        }

        let rc = try session.retry("the SSH handshake", until: limit) {
            libssh2_session_handshake(session.raw, session.socket)
        }
        guard rc == 0 else {
            throw session.error(.connection, "the SSH handshake with \(endpoint.hostAndPort) failed",
                                fix: "the node may still be booting; if this persists, check that port \(endpoint.port) is its SSH server")
        }

        var length = 0
        var type: Int32 = 0
        guard let pointer = libssh2_session_hostkey(session.raw, &length, &type), length > 0 else {
            throw session.error(.hostKey, "\(endpoint.hostAndPort) sent no host key")
        }
        let key = [UInt8](UnsafeRawBufferPointer(start: pointer, count: length))
        let keyType = PrivateKeyFile.keyType(ofBlob: key) ?? "unknown"
        try knownHosts.verify(host: endpoint.host, port: endpoint.port, keyType: keyType, key: key,
                              fingerprint: fingerprint())
    }

    /// `SHA256:…` as OpenSSH prints it.
    private func fingerprint() -> String {
        guard let hash = libssh2_hostkey_hash(session.raw, LIBSSH2_HOSTKEY_HASH_SHA256) else { return "" }
        let digest = Data(bytes: hash, count: 32).base64EncodedString()
        return "SHA256:" + digest.replacingOccurrences(of: "=", with: "")
    }

    // MARK: Authentication

    private enum LoginOutcome {
        case accepted
        /// The key file could not be decrypted with the passphrase tried.
        case keyNotDecrypted(CloudcError)
    }

    private func authenticate(_ identity: SSHIdentity, until limit: ContinuousClock.Instant, timeout: Double) throws {
        let key = try PrivateKeyFile(identity: identity)
        if let passphrase = identity.passphrase {
            if case .keyNotDecrypted(let error) = try login(identity, key, passphrase: passphrase.value, until: limit) { throw error }
            return
        }
        if !key.isEncrypted {
            if case .keyNotDecrypted(let error) = try login(identity, key, passphrase: "", until: limit) { throw error }
            return
        }
        if let agent = identity.agentSocket, !agent.isEmpty, try loginThroughAgent(key, agent: agent, until: limit) {
            return
        }
        var lastRefusal: CloudcError?
        for _ in 0..<3 {
            guard let typed = identity.prompted.get({ identity.askPassphrase("Enter passphrase for \(key.path): ") }) else { break }
            switch try login(identity, key, passphrase: typed.value, until: deadline(after: timeout)) {
            case .accepted:
                return
            case .keyNotDecrypted(let error):
                identity.prompted.forget(typed)
                lastRefusal = error
            }
        }
        if let lastRefusal { throw lastRefusal }
        throw CloudcError(.credentials, "the private key \(key.path) is protected by a passphrase, and none was given for \(peer)",
                          fix: "give the key's passphrase in the login's settings, load the key into ssh-agent (ssh-add \(key.path)), "
                              + "or run cloudc in a terminal to be asked for it")
    }

    private func login(_ identity: SSHIdentity, _ key: PrivateKeyFile, passphrase: String,
                       until limit: ContinuousClock.Instant) throws -> LoginOutcome {
        let user = endpoint.user
        // For an encrypted key the public key path is left out: libssh2 then decrypts the
        // private key first, so a wrong passphrase is told apart from a refused key.
        let publicKeyPath = key.isEncrypted ? nil : identity.publicKeyPath
        let rc = try session.retry("authentication", until: limit) {
            withOptionalCString(publicKeyPath) { publicKey in
                libssh2_userauth_publickey_fromfile_ex(session.raw, user, UInt32(user.utf8.count), publicKey, key.path, passphrase)
            }
        }
        switch rc {
        case 0:
            return .accepted
        case LIBSSH2_ERROR_FILE where key.isEncrypted:
            return .keyNotDecrypted(session.error(
                .credentials, "cannot decrypt the private key \(key.path): wrong passphrase?",
                fix: "check the passphrase given for this key (ssh-keygen -y -f \(key.path) asks for it and tells)"))
        case LIBSSH2_ERROR_FILE:
            throw session.error(.credentials, "cannot use the private key \(key.path)",
                                fix: "use an OpenSSH or PEM key that ssh accepts, e.g. one made with ssh-keygen -t ed25519")
        case LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED, LIBSSH2_ERROR_AUTHENTICATION_FAILED, LIBSSH2_ERROR_METHOD_NOT_SUPPORTED:
            throw session.error(.loginRefused, "\(peer) refused the key \(key.path) for user \(user)",
                                fix: "check the user name, and that the key's public half (\(identity.publicKeyPath ?? key.path + ".pub")) "
                                    + "is in ~\(user)/.ssh/authorized_keys on the node")
        default:
            throw session.error(.connection, "authentication on \(peer) failed",
                                fix: "the node may have dropped the connection; try again")
        }
    }

    /// Logs in with the ssh-agent identity matching the key (any identity when the key's
    /// public half is unknown). False when the agent cannot help.
    private func loginThroughAgent(_ key: PrivateKeyFile, agent socket: String, until limit: ContinuousClock.Instant) throws -> Bool {
        guard let agent = AgentHandle(session: session) else { return false }
        libssh2_agent_set_identity_path(agent.raw, socket)
        guard agent.connect(),
              libssh2_agent_list_identities(agent.raw) == 0 else { return false }
        let user = endpoint.user
        var previous: UnsafeMutablePointer<libssh2_agent_publickey>?
        while true {
            var current: UnsafeMutablePointer<libssh2_agent_publickey>?
            guard libssh2_agent_get_identity(agent.raw, &current, previous) == 0, let identity = current else { return false }
            previous = identity
            if let wanted = key.publicKey {
                let blob = [UInt8](UnsafeBufferPointer(start: identity.pointee.blob, count: identity.pointee.blob_len))
                guard blob == wanted else { continue }
            }
            let rc = try session.retry("authentication through ssh-agent", until: limit) {
                libssh2_agent_userauth(agent.raw, user, identity)
            }
            if rc == 0 { return true }
        }
    }

    // MARK: Closing

    /// Says goodbye to the server; errors do not matter any more. Through a jump host, also
    /// waits (a few seconds at most) for the tunnel's thread to close its side: a process that
    /// exits while that thread is still in libssh2 or OpenSSL can crash in their clean-up.
    func close() {
        sftp = nil
        _ = try? session.retry("disconnecting", until: deadline(after: 2)) {
            libssh2_session_disconnect_ex(session.raw, SSH_DISCONNECT_BY_APPLICATION, "cloudc closed the session", "")
        }
        if let tunnel {
            _ = shutdown(session.socket, Int32(SHUT_RDWR))
            tunnel.waitUntilFinished(seconds: 5)
        }
    }
}

func withOptionalCString<Result>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> Result) -> Result {
    guard let text else { return body(nil) }
    return text.withCString(body)
}

/// One output stream: every byte, and pieces that never split a UTF-8 character.
struct StreamText {
    private(set) var bytes: [UInt8] = []
    /// Where the text handed out so far ends.
    private var emitted = 0

    /// Adds `chunk`; returns the new complete characters.
    mutating func append(_ chunk: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        bytes.append(contentsOf: chunk)
        let end = Self.completePrefix(bytes)
        guard end > emitted else { return "" }
        defer { emitted = end }
        return String(decoding: bytes[emitted..<end], as: UTF8.self)
    }

    /// Whatever is left after the last piece (an incomplete character at the very end).
    mutating func finish() -> String? {
        guard emitted < bytes.count else { return nil }
        defer { emitted = bytes.count }
        return String(decoding: bytes[emitted...], as: UTF8.self)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The length of `bytes` without a trailing, incomplete UTF-8 sequence.
    static func completePrefix(_ bytes: [UInt8]) -> Int {
        var index = bytes.count - 1
        while index >= 0 && index >= bytes.count - 4 {
            let byte = bytes[index]
            if byte & 0xC0 != 0x80 {
                let needed = byte < 0x80 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                return bytes.count - index >= needed ? bytes.count : index
            }
            index -= 1
        }
        return bytes.count
    }
}
