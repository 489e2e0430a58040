import CLibSSH2
import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files over SFTP: atomic uploads (a temporary name renamed into place) and whole downloads.
extension Connection {
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
}
