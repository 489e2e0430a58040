import CloudcCore
import Crypto
import Foundation

/// An IPv4 network with a prefix length, e.g. 10.77.3.0/24. Pure values, no I/O.
public struct IPv4Network: Sendable, Equatable, CustomStringConvertible {
    /// The network address (host bits zero).
    public var network: UInt32
    public var prefix: Int

    public init(network: UInt32, prefix: Int) {
        self.prefix = prefix
        self.network = network & Self.mask(prefix)
    }

    /// Parses `10.77.3.0/24` (host bits are dropped) or `10.77.3.1/24`.
    public init?(cidr: String) {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = Self.parse(String(parts[0])),
              let prefix = Int(parts[1]), (0...32).contains(prefix) else { return nil }
        self.init(network: address, prefix: prefix)
    }

    static func mask(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix) }

    public static func parse(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy(\.isNumber), let n = UInt32(octet), n <= 255 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    public static func format(_ address: UInt32) -> String {
        [24, 16, 8, 0].map { String((address >> UInt32($0)) & 0xff) }.joined(separator: ".")
    }

    /// Addresses in the network, the network and broadcast addresses included.
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefix) }

    /// The address with host number `n` (1 is the first usable), nil outside the usable range.
    public func host(_ n: Int) -> UInt32? {
        guard n >= 1, UInt64(n) < size - 1 else { return nil }
        return network + UInt32(n)
    }

    public func contains(_ address: UInt32) -> Bool { address & Self.mask(prefix) == network }

    public func overlaps(_ other: IPv4Network) -> Bool { contains(other.network) || other.contains(network) }

    public var description: String { "\(Self.format(network))/\(prefix)" }
}

/// An address an interface of the host holds (a line of `ip -4 -o addr`).
public struct InterfaceAddress: Sendable, Equatable {
    public var interface: String
    public var address: UInt32
    public var prefix: Int
    public var network: IPv4Network { IPv4Network(network: address, prefix: prefix) }
}

/// Naming and addressing of a cluster's bridge network.
public enum LocalNetwork {
    /// The pool a bridge subnet comes from when the config gives none.
    public static let defaultPool = IPv4Network(network: 0x0A4D_0000, prefix: 16)   // 10.77.0.0/16
    /// Node addresses start at this host number (the bridge itself is host 1).
    public static let firstNodeHost = 10

    /// `cc-` and 8 lowercase hex digits: what `bridgeName` makes, and all cloudc ever deletes.
    public static func isBridgeName(_ name: String) -> Bool {
        name.range(of: #"^cc-[0-9a-f]{8}$"#, options: .regularExpression) != nil
    }

    /// `cc-` and 8 hex digits of a hash of cluster and incarnation: at most 15 characters
    /// (IFNAMSIZ), the same on every call, different for another start of the same name.
    public static func bridgeName(cluster: String, incarnation: String) -> String {
        "cc-" + hexDigest(cluster + "\u{1f}" + incarnation, length: 8)
    }

    static func hexDigest(_ text: String, length: Int) -> String {
        String(Hex.encode(SHA256.hash(data: Data(text.utf8))).prefix(length))
    }

    /// Parses `ip -4 -o addr` output, e.g.
    /// `4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\       valid_lft forever …`.
    public static func parseAddresses(_ output: String) -> [InterfaceAddress] {
        output.split(separator: "\n").compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let inet = fields.firstIndex(of: "inet"), inet >= 2, inet + 1 < fields.count else { return nil }
            let interface = String(fields[1]).split(separator: "@").first.map(String.init) ?? String(fields[1])
            let cidr = fields[inet + 1].split(separator: "/")
            guard cidr.count == 2, let address = IPv4Network.parse(String(cidr[0])), let prefix = Int(cidr[1]) else { return nil }
            return InterfaceAddress(interface: interface, address: address, prefix: prefix)
        }
    }

    /// The first /24 of `pool` that no interface's network overlaps.
    public static func firstFreeSubnet(in pool: IPv4Network = defaultPool, taken: [InterfaceAddress]) -> IPv4Network? {
        let count = pool.prefix >= 24 ? 1 : 1 << (24 - pool.prefix)
        for index in 0..<count {
            let candidate = IPv4Network(network: pool.network + UInt32(index) << 8, prefix: 24)
            if !taken.contains(where: { $0.network.overlaps(candidate) }) { return candidate }
        }
        return nil
    }

    /// The lowest host number ≥ `firstNodeHost` whose address is not in `used`.
    public static func nodeAddress(in subnet: IPv4Network, used: Set<UInt32>) -> UInt32? {
        var n = firstNodeHost
        while let address = subnet.host(n) {
            if !used.contains(address) { return address }
            n += 1
        }
        return nil
    }

    /// The bridge record's id: `cc-1a2b3c4d 10.77.3.1/24` (name, then the bridge's own address).
    public static func bridgeID(name: String, subnet: IPv4Network) -> String {
        "\(name) \(IPv4Network.format(subnet.network + 1))/\(subnet.prefix)"
    }

    /// The subnet recorded in a bridge record's id.
    public static func subnet(fromBridgeID id: String) -> IPv4Network? {
        let parts = id.split(separator: " ")
        guard parts.count == 2 else { return nil }
        return IPv4Network(cidr: String(parts[1]))
    }
}
