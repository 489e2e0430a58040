import CloudcCore
import Foundation

/// Reads the archives GNU tar writes (`--format=gnu`: 512-byte headers, `L` entries for names
/// over 100 bytes, base-256 sizes past 8 GiB), so a harvest fetches one file instead of one SFTP
/// request per output. Every header's checksum is checked; what an entry's data is, is the
/// caller's to decide (only regular files are taken).
enum TarReader {
    struct Entry: Equatable {
        var path: String
        /// The header's typeflag: `0` (or NUL) regular file, `5` folder, `2` symlink, `1` hard link …
        var type: UInt8
        var data: ArraySlice<UInt8>

        var isRegularFile: Bool { type == UInt8(ascii: "0") || type == 0 }
    }

    static func entries(_ bytes: [UInt8]) throws -> [Entry] {
        var entries: [Entry] = []
        var offset = 0
        var longName: String?
        while offset + 512 <= bytes.count {
            let at = offset
            let header = bytes[at..<at + 512]
            if header.allSatisfy({ $0 == 0 }) { break }   // the end: two zero blocks
            guard checksumHolds(header) else {
                throw CloudcError(.remote, "the harvested archive is damaged at byte \(at) (header checksum)")
            }
            let size = try number(header[(at + 124)..<(at + 136)])
            let type = header[at + 156]
            let start = at + 512
            guard size >= 0, start + size <= bytes.count else {
                throw CloudcError(.remote, "the harvested archive ends inside an entry (byte \(at))")
            }
            let data = bytes[start..<start + size]
            offset = start + (size + 511) / 512 * 512
            if type == UInt8(ascii: "L") {
                longName = text(data)
                continue
            }
            var name = text(header[at..<at + 100])
            // POSIX ustar keeps a prefix for names over 100 bytes (GNU format uses `L` instead).
            if Array(header[(at + 257)..<(at + 263)]) == Array("ustar\0".utf8) {
                let prefix = text(header[(at + 345)..<(at + 500)])
                if !prefix.isEmpty { name = prefix + "/" + name }
            }
            entries.append(Entry(path: longName ?? name, type: type, data: data))
            longName = nil
        }
        return entries
    }

    /// A NUL-terminated field as text.
    static func text(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An octal field, or GNU's base-256 (high bit of the first byte set) for large values.
    static func number(_ field: ArraySlice<UInt8>) throws -> Int {
        if let first = field.first, first & 0x80 != 0 {
            return field.dropFirst().reduce(Int(first & 0x7f)) { $0 << 8 | Int($1) }
        }
        let digits = String(decoding: field.prefix { $0 != 0 && $0 != UInt8(ascii: " ") }.drop { $0 == UInt8(ascii: " ") }, as: UTF8.self)
        guard let value = Int(digits.isEmpty ? "0" : digits, radix: 8) else {
            throw CloudcError(.remote, "the harvested archive has a malformed number field '\(digits)'")
        }
        return value
    }

    /// The sum of the header's bytes with its checksum field read as spaces (POSIX).
    static func checksumHolds(_ header: ArraySlice<UInt8>) -> Bool {
        let base = header.startIndex
        guard let stored = try? number(header[(base + 148)..<(base + 156)]) else { return false }
        var sum = 0
        for (index, byte) in header.enumerated() { sum += (148..<156).contains(index) ? 32 : Int(byte) }
        return sum == stored
    }
}

/// Writes archives GNU tar reads (`--format=gnu`): a run's task files travel as one upload and
/// one `tar -x` on the frontend, not a shell process per file.
enum TarWriter {
    /// Regular files at `path` (relative, `/`-separated) with `mode`; GNU `L` entries carry
    /// names over 99 bytes.
    static func archive(_ files: [(path: String, bytes: [UInt8], mode: Int32)]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(files.reduce(1024) { $0 + 1024 + $1.bytes.count })
        for file in files {
            let name = Array(file.path.utf8)
            if name.count > 99 {
                append(header(name: Array("././@LongLink".utf8), size: name.count + 1, mode: 0, type: UInt8(ascii: "L")), data: name + [0], to: &out)
            }
            append(header(name: Array(name.prefix(99)), size: file.bytes.count, mode: file.mode, type: UInt8(ascii: "0")), data: file.bytes, to: &out)
        }
        out += [UInt8](repeating: 0, count: 1024)   // the end: two zero blocks
        return out
    }

    static func append(_ header: [UInt8], data: [UInt8], to out: inout [UInt8]) {
        out += header
        out += data
        out += [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    static func header(name: [UInt8], size: Int, mode: Int32, type: UInt8) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) { for (i, byte) in bytes.enumerated() { block[offset + i] = byte } }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(Int(mode), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)                      // uid: the extracting user's (tar -x --no-same-owner)
        put(octal(0, width: 8), at: 116)                      // gid
        put(octal(size, width: 12), at: 124)
        put(octal(Int(Date().timeIntervalSince1970), width: 12), at: 136)   // mtime: now
        put(Array("        ".utf8), at: 148)                  // checksum, counted as spaces
        block[156] = type
        put(Array("ustar  ".utf8), at: 257)                   // GNU's magic and version: "ustar  \0"
        let sum = block.reduce(0) { $0 + Int($1) }
        put(Array(String(format: "%06o", sum).utf8) + [0, UInt8(ascii: " ")], at: 148)
        return block
    }
}
