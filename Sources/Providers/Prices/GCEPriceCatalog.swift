import CloudcCore
import Foundation

/// Compute Engine's prices from Google's Cloud Billing Catalog API (`services.skus.list` of the
/// Compute Engine service), and the machine types of the cloud's zones they apply to.
///
/// Google prices a predefined machine by its parts: its vCPUs times the family's "Instance Core"
/// SKU and its memory (GiB) times the family's "Instance Ram" SKU, in the machine's region, plus
/// the GPUs an accelerator-optimized type (a2, g2) comes with. Attached GPUs are priced apart,
/// per GPU type. Spot prices are the SKUs whose usage type is `Preemptible`. A type whose parts
/// are not all in the catalog (a shared-core type, a family without SKUs) gets no price.
public struct GCEPriceCatalog: Sendable {
    /// The Compute Engine service's id in the catalog.
    public static let serviceID = "6F81-5844-456A"
    public static let defaultBaseURL = "https://cloudbilling.googleapis.com/"
    /// Enough to read the catalog (cloud-platform also does).
    public static let scope = "https://www.googleapis.com/auth/cloud-billing.readonly"

    /// The catalog's client: a `GCEClient` whose base is the billing API's.
    let catalog: GCEClient
    /// For the machine types of each zone.
    let compute: GCEClient
    let currency: String

    public init(catalog: GCEClient, compute: GCEClient, currency: String = "USD") {
        self.catalog = catalog; self.compute = compute; self.currency = currency
    }

    /// The billing API's base for a cloud's `endpoint:` (a test peer answers both APIs at one
    /// host): that endpoint's scheme, host and port; Google's when none.
    public static func baseURL(endpoint: String?) -> URL? {
        guard let endpoint, !endpoint.isEmpty else { return URL(string: defaultBaseURL) }
        guard let url = URL(string: endpoint), let scheme = url.scheme, let host = url.host else { return nil }
        return URL(string: "\(scheme)://\(host)\(url.port.map { ":\($0)" } ?? "")/")
    }

    /// Prices for the machine types of `zones` and every GPU type the catalog has in their regions.
    public func fetch(zones: [String], cloud: String, now: Date) async throws -> PriceBook {
        let skus = try await catalog.pages("services.skus.list", "v1/services/\(Self.serviceID)/skus",
                                           query: [("currencyCode", currency), ("pageSize", "5000")], listKey: "skus")
        let units = Self.unitPrices(skus)
        var machines: [String: PriceBook.Entry] = [:]
        for zone in zones {
            let region = GCEProvider.region(of: zone)
            for type in try await compute.machineTypes(zone: zone) {
                guard let name = type["name"]?.string, machines[name + "@" + region] == nil,
                      let entry = Self.machinePrice(type, region: region, units: units) else { continue }
                machines[name + "@" + region] = entry
            }
        }
        let regions = Set(zones.map(GCEProvider.region(of:)))
        let gpus = units.gpus.filter { regions.contains($0.key.region) }.map { key, price in PriceBook.Entry(type: key.type, region: key.region, onDemand: price.onDemand, spot: price.spot) }
        return PriceBook(cloud: cloud, provider: .gce,
                         source: "Google Cloud Billing Catalog API (services/\(Self.serviceID)/skus) and the zones' machine types",
                         fetched: now, currency: currency,
                         machines: machines.values.sorted { ($0.region, $0.type) < ($1.region, $1.type) },
                         gpus: gpus.sorted { ($0.region, $0.type) < ($1.region, $1.type) })
    }

    // MARK: reading SKUs

    struct Key: Hashable { var type: String; var region: String }
    struct Price { var onDemand: Double?; var spot: Double? }
    struct Units {
        /// Per family (`N1`) and region: core and RAM prices.
        var cores: [Key: Price] = [:]
        var ram: [Key: Price] = [:]
        /// Per accelerator type (`nvidia-tesla-t4`) and region.
        var gpus: [Key: Price] = [:]
    }

    /// `[Spot Preemptible ]N1 [Predefined ]Instance Core|Ram running in …`: custom, sole-tenant,
    /// committed-use and other SKUs do not have this form.
    static let machinePart = try! NSRegularExpression(pattern: "^(?:Spot Preemptible )?([A-Z][A-Z0-9]*) (?:Predefined )?Instance (Core|Ram) running in ")
    /// `Nvidia Tesla T4 GPU [attached to Spot Preemptible VMs ]running in …`.
    static let gpuPart = try! NSRegularExpression(pattern: "^Nvidia ((?:Tesla )?[A-Za-z0-9]+(?: [0-9]+GB)?) GPU (?:attached to Spot Preemptible VMs )?running in ")

    static func unitPrices(_ skus: [JSONValue]) -> Units {
        var units = Units()
        for sku in skus {
            guard let description = sku["description"]?.string, let usage = sku["category"]?["usageType"]?.string,
                  usage == "OnDemand" || usage == "Preemptible", let price = hourlyPrice(sku) else { continue }
            let spot = usage == "Preemptible"
            let regions = (sku["serviceRegions"]?.items ?? []).compactMap(\.string)
            let range = NSRange(description.startIndex..., in: description)
            if let match = machinePart.firstMatch(in: description, range: range),
               let family = Range(match.range(at: 1), in: description), let part = Range(match.range(at: 2), in: description) {
                for region in regions {
                    let key = Key(type: String(description[family]), region: region)
                    if description[part] == "Core" { units.cores[key, default: Price()].set(price, spot: spot) }
                    else { units.ram[key, default: Price()].set(price, spot: spot) }
                }
            } else if sku["category"]?["resourceGroup"]?.string == "GPU", let match = gpuPart.firstMatch(in: description, range: range),
                      let model = Range(match.range(at: 1), in: description) {
                let type = "nvidia-" + description[model].lowercased().replacingOccurrences(of: " ", with: "-")
                for region in regions { units.gpus[Key(type: type, region: region), default: Price()].set(price, spot: spot) }
            }
        }
        return units
    }

    /// The SKU's price per hour (per GiB-hour for RAM): its one tier's unit price. A SKU with
    /// tiers (free usage first) or another unit is not a machine's price.
    static func hourlyPrice(_ sku: JSONValue) -> Double? {
        guard let expression = sku["pricingInfo"]?[0]?["pricingExpression"],
              let unit = expression["usageUnit"]?.string, unit == "h" || unit == "GiBy.h",
              let tiers = expression["tieredRates"]?.items, tiers.count == 1,
              let money = tiers[0]["unitPrice"] else { return nil }
        let whole = money["units"]?.number ?? 0
        let nanos = money["nanos"]?.number ?? 0
        return whole + nanos / 1e9
    }

    /// A machine type's price in `region`: vCPUs × core + GiB × RAM (+ its built-in GPUs).
    static func machinePrice(_ type: JSONValue, region: String, units: Units) -> PriceBook.Entry? {
        guard let name = type["name"]?.string, let cpus = type["guestCpus"]?.number, let memory = type["memoryMb"]?.number,
              type["isSharedCpu"]?.bool != true, let dash = name.firstIndex(of: "-") else { return nil }
        let family = Key(type: name[..<dash].uppercased(), region: region)
        guard let core = units.cores[family], let ram = units.ram[family] else { return nil }
        func total(_ pick: (Price) -> Double?) -> Double? {
            guard let c = pick(core), let r = pick(ram) else { return nil }
            var sum = cpus * c + memory / 1024 * r
            for accelerator in type["accelerators"]?.items ?? [] {
                guard let gpu = accelerator["guestAcceleratorType"]?.string, let count = accelerator["guestAcceleratorCount"]?.number,
                      let each = units.gpus[Key(type: gpu, region: region)].flatMap(pick) else { return nil }
                sum += count * each
            }
            return sum
        }
        let onDemand = total(\.onDemand), spot = total(\.spot)
        guard onDemand != nil || spot != nil else { return nil }
        return PriceBook.Entry(type: name, region: region, onDemand: onDemand, spot: spot)
    }
}

extension GCEPriceCatalog.Price {
    mutating func set(_ price: Double, spot: Bool) {
        if spot { self.spot = price } else { onDemand = price }
    }
}
