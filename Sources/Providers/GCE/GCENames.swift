import CloudcCore
import Crypto
import Foundation

/// Names, labels and request ids for Compute Engine, all deterministic.
///
/// Resource names must match `[a-z]([-a-z0-9]*[a-z0-9])?` and be at most 63 characters;
/// label values may hold lowercase letters, digits, `_` and `-`, at most 63.
public enum GCENames {
    public static let maxLength = 63

    /// The cluster's firewall rule for SSH (to the nodes tagged `sshTag`), and the network tag
    /// every node carries:
    /// `cloudc-<cluster>-<incarnation>`.
    public static func clusterTag(cluster: String, incarnation: String) -> String {
        fit("cloudc-\(cluster)-\(incarnation)", suffix: "")
    }

    /// The network tag of the nodes SSH may reach from `ssh_from`: the frontend's.
    public static func sshTag(cluster: String, incarnation: String) -> String {
        fit("cloudc-\(cluster)-\(incarnation)", suffix: "-ssh")
    }

    /// The rule that lets the cluster's nodes reach each other.
    public static func internalFirewall(cluster: String, incarnation: String) -> String {
        fit("cloudc-\(cluster)-\(incarnation)", suffix: "-internal")
    }

    /// The rule that denies every other ingress to the cluster's nodes: it outranks the allow
    /// rules a project's network may carry (`default-allow-ssh` from anywhere, `default-allow-internal`
    /// from every VM of the project), so only cloudc's own rules let traffic in.
    public static func denyFirewall(cluster: String, incarnation: String) -> String {
        fit("cloudc-\(cluster)-\(incarnation)", suffix: "-deny")
    }

    /// `<cluster>-<node>-<first 8 of incarnation>`: unique per incarnation, so a new start of
    /// the same cluster never meets an old VM's name.
    public static func instanceName(cluster: String, node: String, incarnation: String) -> String {
        fit(cluster, suffix: "-\(node)-\(incarnation.prefix(8))")
    }

    /// `base + suffix`, lowercased and cleaned; if too long, `base` is cut and a short hash
    /// of the whole keeps it unique.
    public static func fit(_ base: String, suffix: String) -> String {
        let whole = clean(base + suffix)
        if whole.count <= maxLength, whole.first?.isLetter == true { return whole }
        let hash = String(hexDigest(base + suffix).prefix(6))
        let cleanSuffix = clean(suffix)
        let room = max(1, maxLength - cleanSuffix.count - hash.count - 1)
        var head = String(clean(base).prefix(room))
        while head.hasSuffix("-") { head.removeLast() }
        if head.first?.isLetter != true { head = "c" + head.dropFirst() }
        return head + "-" + hash + cleanSuffix
    }

    /// Lowercase letters, digits and `-`; anything else becomes `-`.
    static func clean(_ text: String) -> String {
        String(text.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" ? $0 : "-" })
    }

    /// A label value: lowercase letters, digits, `_` and `-`, at most 63 characters.
    public static func labelValue(_ text: String) -> String {
        String(text.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" ? $0 : "_" }
            .prefix(maxLength))
    }

    /// The `requestId` of one instance insert: a UUID from the cluster's incarnation, the
    /// launch's token, the node, the zone and the try. The same node in the same zone gets
    /// the same id however often a launch is repeated or resumed, so Google makes at most
    /// one VM of it; another zone (capacity fallback) or another try gets another id.
    public static func insertRequestID(incarnation: String, token: String, node: String, zone: String, attempt: Int = 0) -> String {
        uuid(["instances.insert", incarnation, token, node, zone, String(attempt)])
    }

    /// The `requestId` of a firewall insert.
    public static func firewallRequestID(incarnation: String, name: String) -> String {
        uuid(["firewalls.insert", incarnation, name])
    }

    /// A name-based UUID (RFC 4122 layout, version 5 bits) from SHA-256 of the parts; never the zero UUID.
    static func uuid(_ parts: [String]) -> String {
        var bytes = Array(SHA256.hash(data: Data(parts.joined(separator: "\u{1f}").utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0f) | 0x50
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let hex = bytes.map { byte -> String in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
        let cuts = [8, 12, 16, 20]
        var out = ""
        for (index, character) in hex.enumerated() {
            if cuts.contains(index) { out.append("-") }
            out.append(character)
        }
        return out
    }

    static func hexDigest(_ text: String) -> String {
        Hex.encode(SHA256.hash(data: Data(text.utf8)))
    }
}
