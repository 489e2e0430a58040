import ArgumentParser
import CloudcCore
import Foundation

struct Prices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the clouds' published prices that cloudc has fetched (price per hour, per machine and GPU type).",
        discussion: """
            Prices come from the clouds' own price data (AWS's Price List, Google's Cloud Billing \
            Catalog), fetched by `cloudc prices update` into $CLOUDC_HOME/prices. OpenStack clouds, \
            the local provider and your own machines publish none: cloudc shows no price for them.
            """,
        subcommands: [Show.self, Update.self], defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the fetched prices: a summary per cloud, or one cloud's table.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "A cloud of the config: its prices per type and region.")
        var cloud: String?

        func run() async throws {
            let wiring = Wiring(global)
            let config = try wiring.loadConfig()
            let now = Date()
            if let name = cloud {
                guard config.clouds[name] != nil else {
                    throw CloudcError(.notFound, "no cloud '\(name)' in \(config.path)",
                                      fix: "name one of: \(config.clouds.keys.sorted().joined(separator: ", "))")
                }
                guard let book = try wiring.priceStore.load(name) else {
                    throw CloudcError(.notFound, "no prices of \(name) yet", fix: "fetch them: cloudc prices update \(name)")
                }
                var table = Table(header: ["TYPE", "REGION", "ON-DEMAND/HOUR", "SPOT/HOUR"])
                let money = { (price: Double?) in price.map { PriceBook.money($0, currency: book.currency) } ?? "-" }
                for entry in book.machines + book.gpus {
                    table.rows.append([entry.type, entry.region, money(entry.onDemand), money(entry.spot)])
                }
                for line in table.render() { wiring.context.print(line) }
                wiring.context.note("Prices of \(name): \(book.source), \(book.age(now: now)).")
                return
            }
            var table = Table(header: ["CLOUD", "PRICES", "FETCHED", "SOURCE"])
            for (name, spec) in config.clouds.sorted(by: { $0.key < $1.key }) {
                if let book = try wiring.priceStore.load(name) {
                    table.rows.append([name, "\(book.machines.count) machine, \(book.gpus.count) GPU type(s)",
                                       book.age(now: now).replacingOccurrences(of: "fetched ", with: ""), book.source])
                } else {
                    let publishes = spec.provider == .ec2 || spec.provider == .gce
                    table.rows.append([name, "none", "-", publishes ? "run: cloudc prices update \(name)" : "\(spec.provider.rawValue) publishes no prices"])
                }
            }
            for line in table.render() { wiring.context.print(line) }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch the clouds' published prices into $CLOUDC_HOME/prices (read-only calls; nothing is created).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Clouds of the config (default: every EC2 and GCE cloud).")
        var clouds: [String] = []

        func run() async throws {
            let wiring = Wiring(global)
            let config = try wiring.loadConfig()
            for name in clouds where config.clouds[name] == nil {
                throw CloudcError(.notFound, "no cloud '\(name)' in \(config.path)",
                                  fix: "name one of: \(config.clouds.keys.sorted().joined(separator: ", "))")
            }
            let chosen = clouds.isEmpty
                ? config.clouds.keys.sorted().filter { [.ec2, .gce].contains(config.clouds[$0]!.provider) } : clouds
            if chosen.isEmpty {
                wiring.context.note("No EC2 or GCE cloud in \(config.path): none publishes prices cloudc can read.")
                return
            }
            var failed: [String] = []
            for name in chosen {
                let cloud = config.clouds[name]!
                let began = Date()
                wiring.context.note("• Fetching the prices of \(name) (\(cloud.provider.rawValue))")
                do {
                    guard let book = try await wiring.fetchPrices(cloud) else {
                        wiring.context.note("\(name): \(cloud.provider.rawValue) publishes no prices; cloudc shows none for it (it never guesses).")
                        continue
                    }
                    try wiring.priceStore.save(book)
                    let regions = Set((book.machines + book.gpus).map(\.region)).sorted()
                    wiring.context.note("\(name): \(book.machines.count) machine type(s) and \(book.gpus.count) GPU type(s) in "
                        + "\(regions.joined(separator: ", ")), saved to \(wiring.priceStore.path(name)) in \(String(format: "%.1f", Date().timeIntervalSince(began))) s.")
                } catch {
                    // One cloud failing leaves the others' prices (and its own old ones) as they were.
                    wiring.context.note("\(name): \(error)")
                    failed.append(name)
                }
            }
            if !failed.isEmpty {
                throw CloudcError(.unavailable, "prices not updated for \(failed.joined(separator: ", "))",
                                  fix: "see the reason above each, then run: cloudc prices update \(failed.joined(separator: " "))")
            }
        }
    }
}
