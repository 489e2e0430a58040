import Foundation

/// A cloud's published prices, as `cloudc prices update` fetched them: per machine type and per
/// GPU type, per region, the on-demand price per hour and, where the cloud publishes one, the
/// spot price. Nothing in it is estimated: a type the data lacks has no entry.
public struct PriceBook: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        /// A machine type (`n1-standard-4`, `g4dn.xlarge`) or a GPU type (`nvidia-tesla-t4`).
        public var type: String
        /// The region the price holds in.
        public var region: String
        public var onDemand: Double?
        public var spot: Double?
        public init(type: String, region: String, onDemand: Double?, spot: Double? = nil) {
            self.type = type; self.region = region; self.onDemand = onDemand; self.spot = spot
        }
    }

    /// The config's name of the cloud.
    public var cloud: String
    public var provider: ProviderKind
    /// Where the prices came from, in words (the API and what of it).
    public var source: String
    public var fetched: Date
    public var currency: String
    public var machines: [Entry]
    public var gpus: [Entry]

    public init(cloud: String, provider: ProviderKind, source: String, fetched: Date, currency: String,
                machines: [Entry], gpus: [Entry] = []) {
        self.cloud = cloud; self.provider = provider; self.source = source; self.fetched = fetched
        self.currency = currency; self.machines = machines; self.gpus = gpus
    }

    /// What one node of a group costs per hour.
    public enum Quote: Sendable, Equatable {
        /// The price per node-hour.
        case exact(Double)
        /// Spot where the cloud publishes no spot price: at most the on-demand price, since a
        /// spot request bids no more than that.
        case atMost(Double)
        /// Not in the data, and why.
        case unknown(String)

        public var perHour: Double? {
            switch self {
            case .exact(let price), .atMost(let price): price
            case .unknown: nil
            }
        }
    }

    /// The price of one node of `flavor` in `region`, with `gpus` attached where the cloud
    /// bills them apart from the machine (GCE's accelerators; EC2's come with the type).
    public func quote(flavor: String, gpus: GPURequest?, spot: Bool, region: String) -> Quote {
        guard let machine = machines.first(where: { $0.type == flavor && $0.region == region }) else {
            return .unknown("no \(flavor) in \(region) in the prices of \(Self.day(fetched))")
        }
        var total: Double
        var capped = false
        if spot, let price = machine.spot {
            total = price
        } else if let price = machine.onDemand {
            total = price
            capped = spot
        } else {
            return .unknown("no \(spot ? "spot or " : "")on-demand price for \(flavor) in \(region)")
        }
        if provider == .gce, let gpus, gpus.count > 0 {
            guard let type = gpus.type else { return .unknown("the GPU type is not named") }
            guard let gpu = self.gpus.first(where: { $0.type == type && $0.region == region }),
                  let each = spot && !capped ? gpu.spot : gpu.onDemand else {
                return .unknown("no \(spot ? "spot " : "")price for \(type) in \(region)")
            }
            total += Double(gpus.count) * each
        }
        return capped ? .atMost(total) : .exact(total)
    }

    /// `2026-12-05`.
    public static func day(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: date)
    }

    /// How old the data is, in words: `fetched 2026-12-05, 3 days ago`.
    public func age(now: Date) -> String {
        let seconds = max(0, now.timeIntervalSince(fetched))
        let ago = seconds < 3600 ? "less than an hour ago"
            : seconds < 86400 ? "\(Int(seconds / 3600)) hour(s) ago" : "\(Int(seconds / 86400)) day(s) ago"
        return "fetched \(Self.day(fetched)), \(ago)"
    }

    /// `$0.5260` for USD, else `0.5260 EUR`: four decimals, as the clouds' hourly prices have.
    public static func money(_ amount: Double, currency: String) -> String {
        let text = String(format: "%.4f", amount)
        return currency == "USD" ? "$" + text : text + " " + currency
    }
}
