import CloudcCore
import Foundation

/// EC2's on-demand prices from the AWS Price List Query API (`GetProducts` of `AmazonEC2`):
/// JSON 1.1 POSTs signed with SigV4 for the service `pricing`, whose endpoint is in us-east-1
/// whatever region the prices are for. Each answer holds up to 100 products, each a JSON string
/// of the offer file's format.
///
/// The filters pick what a node of cloudc is: Linux without pre-installed software or a license,
/// on shared tenancy, as used capacity (not a reservation). Spot prices are not in the Price List:
/// the book has none, and a spot node's price shows as at most the on-demand price.
public struct AWSPriceList: Sendable {
    public static let defaultEndpoint = "https://api.pricing.us-east-1.amazonaws.com/"
    public static let signingRegion = "us-east-1"
    static let target = "AWSPriceListService.GetProducts"

    let endpoint: URL
    let credentials: AWSCredentials
    let transport: HTTPTransport
    let retry: RetryPolicy
    let clock: @Sendable () -> Date

    public init(endpoint: URL, credentials: AWSCredentials, transport: HTTPTransport,
                retry: RetryPolicy = RetryPolicy(), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.endpoint = endpoint; self.credentials = credentials; self.transport = transport
        self.retry = retry; self.clock = clock
    }

    /// The filters of one region's query.
    static func filters(region: String) -> [(String, String)] {
        [("regionCode", region), ("operatingSystem", "Linux"), ("tenancy", "Shared"), ("preInstalledSw", "NA"),
         ("licenseModel", "No License required"), ("capacitystatus", "Used")]
    }

    /// Every instance type's on-demand price per hour in `region`, all pages.
    public func fetch(region: String, cloud: String, now: Date) async throws -> PriceBook {
        var prices: [String: Double?] = [:]
        var nextToken: String?
        repeat {
            var body: [String: JSONValue] = [
                "ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "MaxResults": 100,
                "Filters": .array(Self.filters(region: region).map { ["Type": "TERM_MATCH", "Field": .string($0.0), "Value": .string($0.1)] }),
            ]
            if let nextToken { body["NextToken"] = .string(nextToken) }
            let page = try await call(.object(body))
            for item in page["PriceList"]?.items ?? [] {
                // Each product is a JSON document inside a string.
                guard let text = item.string, let product = JSONValue.parse(Data(text.utf8)),
                      let type = product["product"]?["attributes"]?["instanceType"]?.string else { continue }
                let price = Self.onDemandHourly(product)
                // Two products for one type after these filters: the data is not what cloudc
                // understands, so no price rather than either.
                prices[type] = .some(prices.keys.contains(type) ? nil : price)
            }
            nextToken = page["NextToken"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        } while nextToken != nil
        let machines = prices.compactMap { type, price in price.map { PriceBook.Entry(type: type, region: region, onDemand: $0) } }
        return PriceBook(cloud: cloud, provider: .ec2,
                         source: "AWS Price List Query API (GetProducts of AmazonEC2: Linux, shared tenancy, on demand)",
                         fetched: now, currency: "USD", machines: machines.sorted { $0.type < $1.type })
    }

    /// The product's one on-demand price per hour in USD; nil when it has none or several.
    static func onDemandHourly(_ product: JSONValue) -> Double? {
        let dimensions = (product["terms"]?["OnDemand"]?.object ?? [:]).values
            .flatMap { ($0["priceDimensions"]?.object ?? [:]).values }
            .filter { $0["unit"]?.string == "Hrs" }
        guard dimensions.count == 1, let price = dimensions[0]["pricePerUnit"]?["USD"]?.number else { return nil }
        return price
    }

    func call(_ body: JSONValue) async throws -> JSONValue {
        let client = self
        return try await retry.run(shouldRetry: { error in
            if let error = error as? EC2APIError { return error.isRetryable }
            return error is TransportError
        }) {
            try await client.callOnce(body)
        }
    }

    func callOnce(_ body: JSONValue) async throws -> JSONValue {
        let data = body.data
        let host = endpoint.port.map { "\(endpoint.host ?? ""):\($0)" } ?? (endpoint.host ?? "")
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/x-amz-json-1.1"), ("Host", host), ("X-Amz-Target", Self.target),
        ]
        let signer = SigV4Signer(credentials: credentials, region: Self.signingRegion, service: "pricing")
        let signable = SigV4Request(method: "POST", path: endpoint.path.isEmpty ? "/" : endpoint.path, query: "",
                                    headers: headers, body: Array(data))
        headers += signer.signingHeaders(for: signable, at: clock())
        let response = try await transport.send(HTTPRequest(method: "POST", url: endpoint, headers: headers.filter { $0.name != "Host" }, body: data))
        guard (200..<300).contains(response.status) else {
            // JSON protocols answer {"__type": "…Exception", "message": "…"}.
            let answer = JSONValue.parse(response.body)
            let code = (answer?["__type"]?.string ?? "HTTP \(response.status)").split(separator: "#").last.map(String.init) ?? ""
            let message = answer?["message"]?.string ?? answer?["Message"]?.string ?? String(decoding: response.body.prefix(200), as: UTF8.self)
            throw EC2APIError(action: "pricing:GetProducts", status: response.status, code: code, message: message, requestID: response.headers["x-amzn-requestid"])
        }
        guard let answer = JSONValue.parse(response.body) else {
            throw EC2APIError(action: "pricing:GetProducts", status: response.status, code: "MalformedResponse",
                              message: "the answer is not JSON", requestID: nil)
        }
        return answer
    }
}
