import Foundation

/// Reads files of /proc whole. Their size is 0 to stat, and Foundation's readers stop after
/// about 4 KB of them: a mount table of a few clusters, a long environment or /proc/locks on a
/// busy machine was cut short, so a mounted node looked unmounted.
public enum ProcFile {
    /// The file's bytes, read to the end; nil if it cannot be opened.
    public static func data(_ path: String) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { return data }
            data.append(contentsOf: buffer[0..<n])
        }
    }

    /// The file as text (invalid UTF-8 replaced); nil if it cannot be read.
    public static func text(_ path: String) -> String? {
        data(path).map { String(decoding: $0, as: UTF8.self) }
    }
}
