import CloudcCore
import Foundation
import Providers
import State

/// Fetching prices and looking them up: the one place that knows which clouds publish prices
/// and where a group's nodes are priced.
extension Wiring {
    var priceStore: PriceStore { PriceStore(home: context.cloudcHome) }

    /// Fetches a cloud's published prices with its credentials; nil for a cloud that publishes none.
    func fetchPrices(_ cloud: CloudSpec) async throws -> PriceBook? {
        let now = Date()
        switch cloud.settings {
        case .ec2(let settings):
            let resolver = AWSCredentialResolver(environment: context.environment, homeDirectory: context.homeDirectory)
            let credentials = try resolver.credentials(for: settings)
            let region = try resolver.region(for: settings)
            // A cloud with its own endpoint (a private or test one) is asked for prices there too.
            let text = cloud.endpoint ?? AWSPriceList.defaultEndpoint
            guard let endpoint = URL(string: text), endpoint.host != nil else {
                throw CloudcError(.config, "clouds.\(cloud.name).endpoint '\(text)' is not a URL")
            }
            let list = AWSPriceList(endpoint: endpoint, credentials: credentials, transport: URLSessionTransport(timeout: 60))
            do {
                return try await list.fetch(region: region, cloud: cloud.name, now: now)
            } catch let error as EC2APIError {
                throw CloudcError(error.status == 403 || error.code.contains("AccessDenied") ? .permission : .unavailable,
                                  "AWS's Price List refused: \(error.code): \(error.message)",
                                  fix: "the credentials (\(credentials.source)) need the IAM permission pricing:GetProducts; then run the command again")
            }
        case .gce(let settings):
            let resolver = GoogleCredentialResolver(environment: context.environment, homeDirectory: context.homeDirectory)
            let credentials = try resolver.credentials(for: settings, cloud: cloud.name)
            let project = try resolver.project(for: settings, credentials: credentials, cloud: cloud.name)
            guard let billing = GCEPriceCatalog.baseURL(endpoint: cloud.endpoint) else {
                throw CloudcError(.config, "clouds.\(cloud.name).endpoint '\(cloud.endpoint ?? "")' is not an http(s) URL")
            }
            let fetcher = GoogleTokenFetcher(credentials: credentials, transport: URLSessionTransport(timeout: 30),
                                             metadataTransport: URLSessionTransport(timeout: 3), scope: GCEPriceCatalog.scope)
            let catalog = GCEClient(baseURL: billing, project: project, auth: GoogleAuth(fetcher: fetcher),
                                    transport: URLSessionTransport(timeout: 120))
            let compute = try gceProvider(cloud: cloud, settings: settings).client
            do {
                return try await GCEPriceCatalog(catalog: catalog, compute: compute).fetch(zones: settings.zones, cloud: cloud.name, now: now)
            } catch let error as GCEAPIError where error.status == 403 {
                throw CloudcError(.permission, "Google's Cloud Billing Catalog refused: \(error.message)",
                                  fix: "enable the Cloud Billing API (cloudbilling.googleapis.com) in project \(project), and use credentials with the scope cloud-billing.readonly or cloud-platform; then run the command again")
            }
        case .openstack, .local, .ssh:
            return nil
        }
    }

    /// The prices of a cloud as fetched (none when the cache is missing or unreadable).
    func costs(for cloud: CloudSpec, now: Date = Date()) -> Costs {
        Costs(cloud: cloud, book: (cloud.provider == .ec2 || cloud.provider == .gce) ? (try? priceStore.load(cloud.name)) ?? nil : nil, now: now)
    }

    /// The region a group's nodes would be priced in: the first zone's on GCE, the cloud's
    /// region on EC2 (the book's only region when the profile chooses it).
    static func priceRegion(of cloud: CloudSpec, book: PriceBook) -> String? {
        switch cloud.settings {
        case .gce(let settings): settings.zones.first.map { GCEProvider.region(of: $0) }
        case .ec2(let settings): settings.region ?? { let regions = Set(book.machines.map(\.region)); return regions.count == 1 ? regions.first : nil }()
        case .openstack, .local, .ssh: nil
        }
    }
}
