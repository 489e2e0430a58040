import CloudcCore
import Foundation
@testable import Providers
import Testing

/// Reading the clouds' price data as they publish it, and pricing a node from it.
@Suite struct PriceDataTests {
    /// One SKU as Google's Cloud Billing Catalog lists it.
    static func sku(_ description: String, usage: String = "OnDemand", group: String = "CPU", regions: [String] = ["us-central1"],
                    unit: String = "h", tiers: [(start: Double, units: String, nanos: Int)]) -> JSONValue {
        let rates: [JSONValue] = tiers.map { tier in
            ["startUsageAmount": .number(tier.start), "unitPrice": ["currencyCode": "USD", "units": .string(tier.units), "nanos": .number(Double(tier.nanos))]]
        }
        return ["name": "services/6F81-5844-456A/skus/0000-0000-0000", "skuId": "0000-0000-0000", "description": .string(description),
                "category": ["serviceDisplayName": "Compute Engine", "resourceFamily": "Compute", "resourceGroup": .string(group), "usageType": .string(usage)],
                "serviceRegions": .array(regions.map { .string($0) }),
                "pricingInfo": [["summary": "", "pricingExpression": ["usageUnit": .string(unit), "displayQuantity": 1, "tieredRates": .array(rates),
                                                                      "baseUnit": "s", "baseUnitConversionFactor": 3600]]]]
    }

    static let skus: [JSONValue] = [
        sku("N1 Predefined Instance Core running in Americas", group: "N1Standard", tiers: [(0, "0", 31_611_000)]),
        sku("N1 Predefined Instance Ram running in Americas", group: "RAM", unit: "GiBy.h", tiers: [(0, "0", 4_237_000)]),
        sku("Spot Preemptible N1 Predefined Instance Core running in Americas", usage: "Preemptible", group: "N1Standard", tiers: [(0, "0", 10_432_000)]),
        sku("Spot Preemptible N1 Predefined Instance Ram running in Americas", usage: "Preemptible", group: "RAM", unit: "GiBy.h", tiers: [(0, "0", 1_398_000)]),
        sku("A2 Instance Core running in Americas", tiers: [(0, "0", 31_611_000)]),
        sku("A2 Instance Ram running in Americas", group: "RAM", unit: "GiBy.h", tiers: [(0, "0", 4_237_000)]),
        sku("Nvidia Tesla A100 GPU running in Americas", group: "GPU", tiers: [(0, "2", 933_908_000)]),
        sku("Nvidia Tesla T4 GPU running in Americas", group: "GPU", tiers: [(0, "0", 350_000_000)]),
        sku("Nvidia Tesla T4 GPU attached to Spot Preemptible VMs running in Americas", usage: "Preemptible", group: "GPU", tiers: [(0, "0", 140_000_000)]),
        sku("Nvidia A100 80GB GPU running in Americas", group: "GPU", tiers: [(0, "3", 927_390_000)]),
        // What a careless reader would take: the same family elsewhere, custom, sole-tenant
        // and committed-use SKUs, an E2 core with free usage first.
        sku("N1 Predefined Instance Core running in Americas", group: "N1Standard", regions: ["us-west1"], tiers: [(0, "0", 99_000_000)]),
        sku("N1 Custom Instance Core running in Americas", tiers: [(0, "0", 33_192_000)]),
        sku("Custom Instance Core running in Americas", tiers: [(0, "0", 33_192_000)]),
        sku("Sole Tenancy Instance Core running in Americas", tiers: [(0, "0", 34_773_000)]),
        sku("Commitment v1: Cpu in Americas for 1 Year", usage: "Commit1Yr", tiers: [(0, "0", 19_915_000)]),
        sku("E2 Instance Core running in Americas", tiers: [(0, "0", 0), (720, "0", 21_811_000)]),
        sku("E2 Instance Ram running in Americas", group: "RAM", unit: "GiBy.h", tiers: [(0, "0", 2_923_000)]),
    ]

    static func machineType(_ name: String, cpus: Int, memoryMb: Int, shared: Bool = false, gpus: [(String, Int)] = []) -> JSONValue {
        var type: [String: JSONValue] = ["name": .string(name), "guestCpus": .number(Double(cpus)), "memoryMb": .number(Double(memoryMb))]
        if shared { type["isSharedCpu"] = true }
        if !gpus.isEmpty {
            type["accelerators"] = .array(gpus.map { ["guestAcceleratorType": .string($0.0), "guestAcceleratorCount": .number(Double($0.1))] })
        }
        return .object(type)
    }

    @Test func aGCEMachineIsItsCoresAndMemoryInItsRegionWithItsBuiltInGPUs() throws {
        let units = GCEPriceCatalog.unitPrices(Self.skus)
        // 4 × 0.031611 + 15 GiB × 0.004237; spot 4 × 0.010432 + 15 × 0.001398.
        let n1 = try #require(GCEPriceCatalog.machinePrice(Self.machineType("n1-standard-4", cpus: 4, memoryMb: 15360), region: "us-central1", units: units))
        #expect(abs(n1.onDemand! - 0.189999) < 1e-9 && abs(n1.spot! - 0.062698) < 1e-9, "\(n1)")
        // 12 × 0.031611 + 85 GiB × 0.004237 + one A100 at 2.933908; no spot A2 SKUs, no spot price.
        let a2 = try #require(GCEPriceCatalog.machinePrice(Self.machineType("a2-highgpu-1g", cpus: 12, memoryMb: 87040, gpus: [("nvidia-tesla-a100", 1)]),
                                                           region: "us-central1", units: units))
        #expect(abs(a2.onDemand! - 3.673385) < 1e-9 && a2.spot == nil, "\(a2)")
        // E2's core has free usage first (tiers): not a machine's price, so no E2 price at all.
        #expect(GCEPriceCatalog.machinePrice(Self.machineType("e2-standard-4", cpus: 4, memoryMb: 16384), region: "us-central1", units: units) == nil)
        #expect(GCEPriceCatalog.machinePrice(Self.machineType("e2-medium", cpus: 2, memoryMb: 4096, shared: true), region: "us-central1", units: units) == nil)
        #expect(GCEPriceCatalog.machinePrice(Self.machineType("n1-standard-4", cpus: 4, memoryMb: 15360), region: "europe-west1", units: units) == nil)
        // The GPU names are the accelerator types' own.
        #expect(units.gpus[.init(type: "nvidia-tesla-t4", region: "us-central1")].map { [$0.onDemand, $0.spot] } == [0.35, 0.14])
        #expect(units.gpus[.init(type: "nvidia-a100-80gb", region: "us-central1")]?.onDemand == 3.92739)
        #expect(Set(units.cores.keys) == [.init(type: "N1", region: "us-central1"), .init(type: "A2", region: "us-central1"), .init(type: "N1", region: "us-west1")])
    }

    /// A product of AWS's Price List as GetProducts hands it back (a JSON document in a string).
    static func product(unit: String = "Hrs", onDemand: [String], reserved: String? = "0.3260000000") -> JSONValue {
        var terms: [String: JSONValue] = [:]
        terms["OnDemand"] = ["SKU.JRTCKXETXF": ["priceDimensions": .object(Dictionary(uniqueKeysWithValues: onDemand.enumerated().map { index, price in
            ("SKU.JRTCKXETXF.\(index)", ["unit": .string(unit), "pricePerUnit": ["USD": .string(price)], "beginRange": "0", "endRange": "Inf"] as JSONValue)
        }))]]
        if let reserved {
            terms["Reserved"] = ["SKU.4NA7Y494T4": ["priceDimensions": ["SKU.4NA7Y494T4.6YS6EN2CT7": ["unit": "Hrs", "pricePerUnit": ["USD": .string(reserved)]]]]]
        }
        return ["product": ["productFamily": "Compute Instance", "attributes": ["instanceType": "g4dn.xlarge", "regionCode": "us-east-1"], "sku": "SKU"],
                "serviceCode": "AmazonEC2", "terms": .object(terms)]
    }

    @Test func anEC2ProductHasOneOnDemandHourlyPriceOrNone() {
        #expect(AWSPriceList.onDemandHourly(Self.product(onDemand: ["0.5260000000"])) == 0.526)
        #expect(AWSPriceList.onDemandHourly(Self.product(unit: "GB-Mo", onDemand: ["0.1380000000"])) == nil)
        #expect(AWSPriceList.onDemandHourly(Self.product(onDemand: ["0.5260000000", "0.6000000000"])) == nil)
        #expect(AWSPriceList.onDemandHourly(Self.product(onDemand: [], reserved: "0.3260000000")) == nil)
        // The filters ask for what a cloudc node is, the region first.
        #expect(AWSPriceList.filters(region: "eu-west-1").map(\.0) == ["regionCode", "operatingSystem", "tenancy", "preInstalledSw", "licenseModel", "capacitystatus"])
    }

    @Test func aQuoteIsTheBooksPriceOrSaysWhyNot() {
        let day = Date(timeIntervalSince1970: 1_796_000_000)
        let gce = PriceBook(cloud: "gce", provider: .gce, source: "catalog", fetched: day, currency: "USD",
                            machines: [.init(type: "n1-standard-8", region: "us-central1", onDemand: 0.379998, spot: 0.125396)],
                            gpus: [.init(type: "nvidia-tesla-t4", region: "us-central1", onDemand: 0.35, spot: 0.14)])
        let t4 = GPURequest(type: "nvidia-tesla-t4", count: 2)
        #expect(gce.quote(flavor: "n1-standard-8", gpus: t4, spot: false, region: "us-central1") == .exact(0.379998 + 0.7))
        #expect(gce.quote(flavor: "n1-standard-8", gpus: t4, spot: true, region: "us-central1") == .exact(0.125396 + 0.28))
        #expect(gce.quote(flavor: "n1-standard-8", gpus: GPURequest(type: "nvidia-l4", count: 1), spot: false, region: "us-central1")
                == .unknown("no price for nvidia-l4 in us-central1"))
        #expect(gce.quote(flavor: "n1-standard-8", gpus: nil, spot: false, region: "europe-west1")
                == .unknown("no n1-standard-8 in europe-west1 in the prices of \(PriceBook.day(day))"))
        let ec2 = PriceBook(cloud: "aws", provider: .ec2, source: "price list", fetched: day, currency: "USD",
                            machines: [.init(type: "g4dn.xlarge", region: "us-east-1", onDemand: 0.526)])
        // EC2's GPUs come with the type; spot is at most the on-demand price.
        #expect(ec2.quote(flavor: "g4dn.xlarge", gpus: GPURequest(count: 1), spot: false, region: "us-east-1") == .exact(0.526))
        #expect(ec2.quote(flavor: "g4dn.xlarge", gpus: nil, spot: true, region: "us-east-1") == .atMost(0.526))
        #expect(PriceBook.money(0.0416, currency: "USD") == "$0.0416" && PriceBook.money(1.17635, currency: "EUR") == "1.1764 EUR")
        #expect(ec2.age(now: day.addingTimeInterval(3 * 86400 + 60)) == "fetched \(PriceBook.day(day)), 3 day(s) ago")
    }
}
