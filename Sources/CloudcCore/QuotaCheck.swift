/// One quota a start would draw on: its limit, what is used, and what the start adds.
public struct QuotaNeed: Sendable, Equatable {
    public var name: String
    /// nil: unlimited.
    public var limit: Double?
    public var used: Double
    public var adding: Double

    public init(name: String, limit: Double?, used: Double, adding: Double) {
        self.name = name; self.limit = limit; self.used = used; self.adding = adding
    }

    public var short: Bool { limit.map { used + adding > $0 } ?? false }

    /// `8 of 24 CPUs free, 4 needed`.
    public var text: String {
        guard let limit else { return "\(name): no limit" }
        return "\(Self.number(max(0, limit - used))) of \(Self.number(limit)) \(name) free, \(Self.number(adding)) needed"
    }

    static func number(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// The summary of a check, or the error naming every quota that is short.
    public static func verdict(_ needs: [QuotaNeed], where place: String, fix: String) throws -> String? {
        let drawn = needs.filter { $0.adding > 0 }
        guard !drawn.isEmpty else { return nil }
        let short = drawn.filter(\.short)
        if !short.isEmpty {
            throw CloudcError(.quota, "not enough quota in \(place): " + short.map(\.text).joined(separator: "; "), fix: fix)
        }
        return "quota in \(place): " + drawn.map(\.text).joined(separator: "; ")
    }
}
