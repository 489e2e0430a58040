import CLibSSH2
import CloudcCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Running commands on the node: one exec channel each, output streamed, exit status read.
extension Connection {
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
}
