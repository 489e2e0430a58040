import CloudcCore
import Foundation

/// The price cache: one `PriceBook` per cloud, in `$CLOUDC_HOME/prices/<cloud>.json`, written
/// whole or not at all.
public struct PriceStore: Sendable {
    public let folder: String

    public init(home: String) { folder = home + "/prices" }

    public func path(_ cloud: String) -> String { folder + "/" + cloud + ".json" }

    /// The cloud's book; nil when none was fetched. A file that does not read is an error that
    /// says how to replace it.
    public func load(_ cloud: String) throws -> PriceBook? {
        guard let data = FileManager.default.contents(atPath: path(cloud)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(PriceBook.self, from: data)
        } catch {
            throw CloudcError(.state, "the price cache \(path(cloud)) cannot be read",
                              fix: "fetch it again: cloudc prices update \(cloud)", cause: "\(error)")
        }
    }

    public func save(_ book: PriceBook) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(book), to: path(book.cloud), mode: 0o644, what: "the price cache")
    }
}
