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
    private var sftp: SFTPHandle?

    /// Host key algorithms, best first: ed25519 wherever the node has it.
    static let hostKeyAlgorithms = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa",
    ]

    /// Connects, checks the host key against `knownHosts`, and logs in, all within `timeout`
    /// seconds (a passphrase prompt restarts the clock).
    init(endpoint: SSHEndpoint, identity: SSHIdentity, knownHosts: KnownHosts, timeout: Double, cancelled: CancelFlag) throws {
        let limit = deadline(after: timeout)
        let socket = try TCPConnect.open(endpoint, until: limit, timeout: timeout, cancelled: cancelled)
        self.session = try SessionHandle(socket: socket, peer: endpoint.description, cancelled: cancelled)
        self.endpoint = endpoint
        self.stepTimeout = max(timeout, 30)
        try handshake(knownHosts: knownHosts, until: limit)
        try authenticate(identity, until: limit, timeout: timeout)
    }

    var peer: String { endpoint.description }

    // MARK: Handshake and host key

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
            throw session.error(.credentials, "\(peer) refused the key \(key.path)",
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

    // MARK: Commands

    /// Runs `command`; see `RemoteShell.exec`. stdin, stdout and stderr move together in one
    /// non-blocking loop, so a command that fills one stream while another waits cannot stall.
    /// `onOutput` is called on this thread.
    func exec(_ command: String, stdin: [UInt8]?, onOutput: (@Sendable (OutputChunk) -> Void)?) throws -> ExecResult {
        let opening = deadline(after: stepTimeout)
        guard let raw = try session.retry("opening a channel", until: opening, { cloudc_libssh2_channel_open_session(session.raw) }) else {
            throw session.error(.connection, "cannot open a channel on \(peer)",
                                fix: "the node's sshd may have hit its session limit (MaxSessions) or dropped the connection; try again")
        }
        let channel = ChannelHandle(raw: raw, session: session)
        let started = try session.retry("starting a command", until: opening) {
            command.withCString { libssh2_channel_process_startup(raw, "exec", 4, $0, UInt32(command.utf8.count)) }
        }
        guard started == 0 else {
            throw session.error(.remote, "\(peer) refused to run a command", fix: "check the node's sshd configuration (ForceCommand, MaxSessions)")
        }

        let input = (stdin ?? []).map { CChar(bitPattern: $0) }
        var written = 0
        var inputDone = false
        var stdout = StreamText(), stderr = StreamText()
        var buffer = [CChar](repeating: 0, count: 64 * 1024)
        let what = "running a command"

        while true {
            var moved = false

            if !inputDone && written < input.count {
                let n = input.withUnsafeBufferPointer {
                    libssh2_channel_write_ex(raw, 0, $0.baseAddress.map { $0 + written }, input.count - written)
                }
                if n > 0 {
                    written += n
                    moved = true
                } else if n == LIBSSH2_ERROR_CHANNEL_CLOSED || n == LIBSSH2_ERROR_CHANNEL_EOF_SENT {
                    inputDone = true   // the command is gone or stopped reading: the rest is dropped
                } else if n != LIBSSH2_ERROR_EAGAIN && n < 0 {
                    throw session.error(.connection, "lost the connection to \(peer) while sending a command's input")
                }
            } else if !inputDone {
                let rc = libssh2_channel_send_eof(raw)
                if rc != LIBSSH2_ERROR_EAGAIN {
                    inputDone = true   // a refused EOF means the channel is closing anyway
                    moved = true
                }
            }

            var ended = true
            for (stream, isStderr) in [(Int32(0), false), (Int32(SSH_EXTENDED_DATA_STDERR), true)] {
                let n = buffer.withUnsafeMutableBufferPointer { libssh2_channel_read_ex(raw, stream, $0.baseAddress, $0.count) }
                if n > 0 {
                    moved = true
                    ended = false
                    let text = buffer.withUnsafeBufferPointer { pointer in
                        pointer.withMemoryRebound(to: UInt8.self) { isStderr ? stderr.append($0.prefix(n)) : stdout.append($0.prefix(n)) }
                    }
                    if let onOutput, !text.isEmpty { onOutput(isStderr ? .stderr(text) : .stdout(text)) }
                } else if n == LIBSSH2_ERROR_EAGAIN {
                    ended = false
                } else if n < 0 {
                    throw session.error(.connection, "lost the connection to \(peer) while running a command")
                }
            }
            // The command's output has ended (it exits, or closed stdout and stderr): input it
            // has not read by now is dropped, as ssh does; waiting for the window it will never
            // open again would hang.
            if ended && libssh2_channel_eof(raw) == 1 { break }
            if !moved {
                var nextKeepalive: Int32 = 0
                _ = libssh2_keepalive_send(session.raw, &nextKeepalive)
                try session.waitForSocket(what, until: nil, pause: .seconds(max(1, Int(nextKeepalive))))
            }
        }
        if let onOutput {
            if let rest = stdout.finish() { onOutput(.stdout(rest)) }
            if let rest = stderr.finish() { onOutput(.stderr(rest)) }
        }

        // The exit status may come after the output ends: it is certain once the channel is closed.
        let closing = deadline(after: stepTimeout)
        var rc = try session.retry("closing a channel", until: closing) { libssh2_channel_close(raw) }
        if rc == 0 { rc = try session.retry("closing a channel", until: closing) { libssh2_channel_wait_closed(raw) } }
        guard rc == 0 else {
            throw session.error(.connection, "lost the connection to \(peer) before a command's exit status arrived")
        }
        return ExecResult(status: exitStatus(channel), stdout: stdout.text, stderr: stderr.text)
    }

    /// The exit status, or 128 + the signal's number for a command killed by a signal.
    private func exitStatus(_ channel: ChannelHandle) -> Int32 {
        var name: UnsafeMutablePointer<CChar>?
        var length = 0
        if libssh2_channel_get_exit_signal(channel.raw, &name, &length, nil, nil, nil, nil) == 0, let name {
            let signal = String(decoding: UnsafeRawBufferPointer(start: name, count: length), as: UTF8.self)
            libssh2_free(session.raw, name)
            return Self.signalNumbers[signal].map { 128 + $0 } ?? 255
        }
        return libssh2_channel_get_exit_status(channel.raw)
    }

    /// RFC 4254 §6.10 signal names, numbered as on Linux.
    static let signalNumbers: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
        "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
    ]

    // MARK: Uploads

    /// See `RemoteShell.upload`. The file is written as a hidden temporary beside `path`
    /// (mode 0600 while it fills), then owner, then mode, then renamed over `path`.
    /// SFTP version 3 servers (OpenSSH) refuse to rename over an existing file; then the rename
    /// is `mv -fT` on the node, which is rename(2) and as atomic. No directory is created.
    func upload(_ data: [UInt8], to path: String, mode: Int32, owner: String?) throws {
        let sftp = try openSFTP()
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty else {
            throw CloudcError(.internalError, "upload to \(peer): \(path) names a directory, not a file")
        }
        let temporary = "\(directory).\(name).cloudc-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"

        let flags = UInt(LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL)
        guard let raw = try session.retry("creating \(temporary)", until: deadline(after: stepTimeout), {
            temporary.withCString { libssh2_sftp_open_ex(sftp.raw, $0, UInt32(temporary.utf8.count), flags, 0o600, LIBSSH2_SFTP_OPENFILE) }
        }) else {
            throw sftpError(sftp, "cannot create \(temporary) on \(peer)", directory: directory)
        }
        let file = SFTPFileHandle(raw: raw, sftp: sftp)
        do {
            var offset = 0
            while offset < data.count {
                let n = try session.retry("writing \(temporary)", until: deadline(after: stepTimeout)) {
                    Int32(clamping: data.withUnsafeBufferPointer { pointer in
                        pointer.withMemoryRebound(to: CChar.self) {
                            libssh2_sftp_write(raw, $0.baseAddress.map { $0 + offset }, min(data.count - offset, 256 * 1024))
                        }
                    })
                }
                guard n > 0 else { throw sftpError(sftp, "cannot write \(temporary) on \(peer)", directory: directory) }
                offset += Int(n)
            }
            guard try file.close(until: deadline(after: stepTimeout)) == 0 else {
                throw sftpError(sftp, "cannot finish writing \(temporary) on \(peer)", directory: directory)
            }

            if let owner {
                let chown = try exec("chown -- \(Shell.quote(owner)) \(Shell.quote(temporary))", stdin: nil, onOutput: nil)
                guard chown.status == 0 else {
                    throw CloudcError(.remote, "cannot make \(owner) the owner of \(path) on \(peer)",
                                      fix: "check that the user exists on the node and that \(endpoint.user) may change owners (root)",
                                      cause: chown.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }

            // After chown, which clears set-user-ID bits.
            var attributes = LIBSSH2_SFTP_ATTRIBUTES()
            attributes.flags = UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS)
            attributes.permissions = UInt(mode & 0o7777)
            let changed = try session.retry("setting the mode of \(temporary)", until: deadline(after: stepTimeout)) {
                temporary.withCString { libssh2_sftp_stat_ex(sftp.raw, $0, UInt32(temporary.utf8.count), LIBSSH2_SFTP_SETSTAT, &attributes) }
            }
            guard changed == 0 else {
                throw sftpError(sftp, "cannot set the mode of \(temporary) on \(peer)", directory: directory)
            }

            let renameFlags = Int(LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC | LIBSSH2_SFTP_RENAME_NATIVE)
            let renamed = try session.retry("renaming \(temporary)", until: deadline(after: stepTimeout)) {
                temporary.withCString { from in
                    path.withCString { to in
                        libssh2_sftp_rename_ex(sftp.raw, from, UInt32(temporary.utf8.count), to, UInt32(path.utf8.count), renameFlags)
                    }
                }
            }
            if renamed != 0 {
                let move = try exec("mv -fT -- \(Shell.quote(temporary)) \(Shell.quote(path))", stdin: nil, onOutput: nil)
                guard move.status == 0 else {
                    throw CloudcError(.remote, "cannot replace \(path) on \(peer)",
                                      fix: "check that \(endpoint.user) may write to \(directory.isEmpty ? "its home directory" : directory) and that \(path) is not a directory",
                                      cause: move.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
        } catch {
            // Best effort: leave no temporary behind. A lost connection leaves it, hidden.
            if !(error is CancellationError) {
                _ = try? session.retry("removing \(temporary)", until: deadline(after: 5)) {
                    temporary.withCString { libssh2_sftp_unlink_ex(sftp.raw, $0, UInt32(temporary.utf8.count)) }
                }
            }
            throw error
        }
    }

    // MARK: Downloads

    /// See `RemoteShell.download`: the whole file, read over SFTP.
    func download(_ path: String) throws -> [UInt8] {
        let sftp = try openSFTP()
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let flags = UInt(LIBSSH2_FXF_READ)
        guard let raw = try session.retry("opening \(path)", until: deadline(after: stepTimeout), {
            path.withCString { libssh2_sftp_open_ex(sftp.raw, $0, UInt32(path.utf8.count), flags, 0, LIBSSH2_SFTP_OPENFILE) }
        }) else {
            throw sftpError(sftp, "cannot open \(path) on \(peer)", directory: directory, reading: true)
        }
        let file = SFTPFileHandle(raw: raw, sftp: sftp)
        var data: [UInt8] = []
        var buffer = [CChar](repeating: 0, count: 256 * 1024)
        while true {
            let n = try session.retry("reading \(path)", until: deadline(after: stepTimeout)) {
                Int32(clamping: buffer.withUnsafeMutableBufferPointer { libssh2_sftp_read(raw, $0.baseAddress, $0.count) })
            }
            if n == 0 { break }
            guard n > 0 else { throw sftpError(sftp, "cannot read \(path) on \(peer)", directory: directory, reading: true) }
            buffer.withUnsafeBufferPointer { pointer in
                pointer.prefix(Int(n)).withMemoryRebound(to: UInt8.self) { data.append(contentsOf: $0) }
            }
        }
        _ = try file.close(until: deadline(after: stepTimeout))
        return data
    }

    private func openSFTP() throws -> SFTPHandle {
        if let sftp { return sftp }
        guard let raw = try session.retry("starting SFTP", until: deadline(after: stepTimeout), { libssh2_sftp_init(session.raw) }) else {
            throw session.error(.remote, "cannot start SFTP on \(peer)",
                                fix: "check that the node's sshd_config has a 'Subsystem sftp' line")
        }
        let handle = SFTPHandle(raw: raw, session: session)
        sftp = handle
        return handle
    }

    /// Built right after the failing SFTP call: the SFTP status says what the server refused.
    private func sftpError(_ sftp: SFTPHandle, _ message: String, directory: String, reading: Bool = false) -> CloudcError {
        let last = session.lastError()
        guard last.code == LIBSSH2_ERROR_SFTP_PROTOCOL else {
            return CloudcError(.connection, message, fix: "the connection to the node may have dropped; try again",
                               cause: "\(last.message) (libssh2 error \(last.code))")
        }
        let status = libssh2_sftp_last_error(sftp.raw)
        let place = directory.isEmpty ? "the home directory of \(endpoint.user)" : directory
        switch status {
        case UInt(LIBSSH2_FX_NO_SUCH_FILE), UInt(LIBSSH2_FX_NO_SUCH_PATH):
            if reading { return CloudcError(.notFound, message, cause: "no such file or directory (SFTP status \(status))") }
            return CloudcError(.remote, message, fix: "create \(place) first: uploads do not create directories",
                               cause: "no such file or directory (SFTP status \(status))")
        case UInt(LIBSSH2_FX_PERMISSION_DENIED), UInt(LIBSSH2_FX_WRITE_PROTECT):
            return CloudcError(.remote, message, fix: "check that \(endpoint.user) may \(reading ? "read" : "write to") \(place)",
                               cause: "permission denied (SFTP status \(status))")
        case UInt(LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM), UInt(LIBSSH2_FX_QUOTA_EXCEEDED):
            return CloudcError(.remote, message, fix: "free some space on the node", cause: "no space left (SFTP status \(status))")
        default:
            return CloudcError(.remote, message, cause: "SFTP status \(status)")
        }
    }

    // MARK: Closing

    /// Says goodbye to the server; errors do not matter any more.
    func close() {
        sftp = nil
        _ = try? session.retry("disconnecting", until: deadline(after: 2)) {
            libssh2_session_disconnect_ex(session.raw, SSH_DISCONNECT_BY_APPLICATION, "cloudc closed the session", "")
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
