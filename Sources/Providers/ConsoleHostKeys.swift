import Foundation

/// What a VM's console log tells of its SSH host keys. cloud-init's `keys_to_console` module
/// prints them near the end of the first boot between `-----BEGIN SSH HOST KEY KEYS-----` and
/// `-----END SSH HOST KEY KEYS-----`, one `type base64 comment` a key; EC2's GetConsoleOutput and
/// Nova's os-getConsoleOutput hand that log back, often wrapped at 80 columns, with `\r\n` ends.
public enum ConsoleHostKeys {
    public enum Reading: Equatable, Sendable {
        /// The keys, `type base64` each, sorted.
        case keys([String])
        /// cloud-init finished its boot without printing any (an image that keeps them off the
        /// console): none will come, so waiting longer is pointless.
        case none
        /// Not printed yet (the console is empty, or the boot is still running).
        case notYet
    }

    static let begin = "-----BEGIN SSH HOST KEY KEYS-----"
    static let end = "-----END SSH HOST KEY KEYS-----"

    /// How many SSH strings follow the key type in each key's wire form (RFC 4253 6.6, RFC 5656,
    /// RFC 8709), so a key's exact length is known even where the console wrapped it.
    static let fieldsAfterType: [String: Int] = [
        "ssh-ed25519": 1, "ssh-rsa": 2,
        "ecdsa-sha2-nistp256": 2, "ecdsa-sha2-nistp384": 2, "ecdsa-sha2-nistp521": 2,
    ]

    public static func read(_ console: String) -> Reading {
        let text = console.replacingOccurrences(of: "\r", with: "")
        // The last complete block: a reboot prints it again, and only a finished block counts.
        guard let endRange = text.range(of: end, options: .backwards),
              let beginRange = text.range(of: begin, options: .backwards, range: text.startIndex..<endRange.lowerBound) else {
            return finished(text) ? .none : .notYet
        }
        let keys = parse(block: String(text[beginRange.upperBound..<endRange.lowerBound]))
        if keys.isEmpty { return finished(text) ? .none : .notYet }
        return .keys(keys)
    }

    /// Each node's reading as `CloudProvider.hostKeys` answers: its keys, an empty list for
    /// "none will come", and no entry while they may still come.
    static func answer(_ readings: [(node: String, reading: Reading)]) -> [String: [String]] {
        var found: [String: [String]] = [:]
        for (node, reading) in readings {
            switch reading {
            case .keys(let keys): found[node] = keys
            case .none: found[node] = []
            case .notYet: continue
            }
        }
        return found
    }

    /// cloud-init's last line of a boot: `Cloud-init v. 22.4.2 finished at …`.
    static func finished(_ text: String) -> Bool {
        text.range(of: #"Cloud-init v\. \S+ finished at"#, options: .regularExpression) != nil
    }

    /// Each key in the block: its type token, then its base64 text with line breaks removed, cut
    /// at the length its own wire form gives (a wrapped line may lose the space before the comment).
    static func parse(block: String) -> [String] {
        let lines = block.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        var keys: Set<String> = []
        for (index, line) in lines.enumerated() {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2, fieldsAfterType[parts[0]] != nil else { continue }
            // The key's text: the rest of this line and the lines after it, up to the next key.
            var rest = parts[1]
            for next in lines[(index + 1)...] {
                if let type = next.split(separator: " ").first, fieldsAfterType[String(type)] != nil { break }
                rest += next
            }
            let candidate = String(rest.prefix(while: { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII || "+/=".contains($0) }))
            if let key = exactKey(type: parts[0], base64Prefix: candidate) { keys.insert("\(parts[0]) \(key)") }
        }
        return keys.sorted()
    }

    /// The base64 of one key of `type` at the start of `text`, checked: it decodes, its wire form
    /// names `type`, and it holds exactly the fields that type has.
    static func exactKey(type: String, base64Prefix text: String) -> String? {
        guard let fields = fieldsAfterType[type] else { return nil }
        // Enough to read the lengths: the whole quanta before any padding (or the comment that a
        // wrapped line joined on), then walk the fields' length headers.
        let head = text.prefix(while: { $0 != "=" })
        guard let bytes = Data(base64Encoded: String(head.prefix(head.count / 4 * 4))) else { return nil }
        var offset = 0
        for field in 0...fields {
            guard offset + 4 <= bytes.count else { return nil }
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= 16 * 1024 else { return nil }
            if field == 0 {
                guard offset + 4 + length <= bytes.count,
                      String(decoding: bytes[(offset + 4)..<(offset + 4 + length)], as: UTF8.self) == type else { return nil }
            }
            offset += 4 + length
        }
        let characters = (offset + 2) / 3 * 4
        guard text.count >= characters else { return nil }
        let key = String(text.prefix(characters))
        guard let exact = Data(base64Encoded: key), exact.count == offset else { return nil }
        return key
    }
}
