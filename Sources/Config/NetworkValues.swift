import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks of the network values a config holds: CIDR ranges and API URLs.
/// Each check returns nil when the value is fine, or what is wrong and how to fix it.
enum NetworkValues {
    struct Problem: Equatable {
        var what: String
        var fix: String
    }

    enum Families { case ipv4Only, ipv4OrIPv6 }

    /// `ADDRESS/PREFIX` with the address being the network's own (no host bits set).
    static func cidrProblem(_ text: String, families: Families) -> Problem? {
        let example = families == .ipv4Only ? "10.77.0.0/24" : "203.0.113.0/24, 0.0.0.0/0 or 2001:db8::/32"
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard let addressText = parts.first.map(String.init) else {
            return Problem(what: "'\(text)' is not a CIDR network", fix: "write ADDRESS/PREFIX, e.g. \(example)")
        }
        guard let (family, bytes) = address(addressText) else {
            return Problem(what: "'\(text)' is not a CIDR network: '\(addressText)' is not an IP address",
                           fix: "write ADDRESS/PREFIX, e.g. \(example)")
        }
        if family == AF_INET6, families == .ipv4Only {
            return Problem(what: "'\(text)' is an IPv6 network; only IPv4 is supported here",
                           fix: "write an IPv4 network, e.g. \(example)")
        }
        let bits = bytes.count * 8
        guard parts.count == 2 else {
            if parts.count == 1 {
                return Problem(what: "'\(text)' is an address, not a network",
                               fix: "write \(text)/\(bits) for this one address, or a network such as \(example)")
            }
            return Problem(what: "'\(text)' is not a CIDR network", fix: "write ADDRESS/PREFIX, e.g. \(example)")
        }
        guard let prefix = Int(parts[1]), (0...bits).contains(prefix), parts[1].allSatisfy(\.isASCII) else {
            return Problem(what: "'\(text)' has prefix length '\(parts[1])', which is not a number from 0 to \(bits)",
                           fix: "write ADDRESS/PREFIX with a prefix from 0 to \(bits), e.g. \(example)")
        }
        let network = masked(bytes, prefix: prefix)
        if network != bytes, let networkText = format(network, family: family) {
            return Problem(what: "'\(text)' has host bits set",
                           fix: "write the network's address, \(networkText)/\(prefix), or \(addressText)/\(bits) for one address")
        }
        return nil
    }

    /// An http or https URL with a host.
    static func urlProblem(_ text: String) -> Problem? {
        let fix = "write a URL such as https://api.example.org or http://127.0.0.1:8080"
        guard let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return Problem(what: "'\(text)' is not an http or https URL", fix: fix)
        }
        guard let host = components.host, !host.isEmpty else {
            return Problem(what: "'\(text)' has no host", fix: fix)
        }
        return nil
    }

    /// The address's family and bytes (4 or 16), or nil if it is not an address.
    private static func address(_ text: String) -> (Int32, [UInt8])? {
        for (family, size) in [(AF_INET, 4), (AF_INET6, 16)] {
            var bytes = [UInt8](repeating: 0, count: size)
            let parsed = bytes.withUnsafeMutableBytes { buffer in
                inet_pton(Int32(family), text, buffer.baseAddress)
            }
            if parsed == 1 { return (Int32(family), bytes) }
        }
        return nil
    }

    private static func masked(_ bytes: [UInt8], prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let keep = min(8, max(0, prefix - index * 8))
            let mask: UInt8 = keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
            return byte & mask
        }
    }

    private static func format(_ bytes: [UInt8], family: Int32) -> String? {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let written = bytes.withUnsafeBytes { source in
            text.withUnsafeMutableBufferPointer { target in
                inet_ntop(family, source.baseAddress, target.baseAddress, socklen_t(target.count))
            }
        }
        guard written != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
