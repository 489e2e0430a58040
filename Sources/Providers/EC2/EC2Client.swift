import CloudcCore
import Foundation

/// EC2's Query API (version 2016-11-15): form-encoded POSTs signed with SigV4, XML answers.
public struct EC2Client: Sendable {
    public static let apiVersion = "2016-11-15"

    public let endpoint: URL
    public let region: String
    let credentials: AWSCredentials
    let transport: HTTPTransport
    let retry: RetryPolicy
    let clock: @Sendable () -> Date

    public init(endpoint: URL, region: String, credentials: AWSCredentials, transport: HTTPTransport,
                retry: RetryPolicy = RetryPolicy(), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.endpoint = endpoint; self.region = region; self.credentials = credentials
        self.transport = transport; self.retry = retry; self.clock = clock
    }

    /// `https://ec2.<region>.amazonaws.com/` unless the config names another endpoint.
    public static func defaultEndpoint(region: String) -> URL? {
        URL(string: "https://ec2.\(region).amazonaws.com/")
    }

    /// Calls `action` with `parameters`; returns the response's root element.
    /// Throttling and server errors are retried with backoff; client errors are not.
    public func call(_ action: String, _ parameters: [(String, String)] = []) async throws -> XMLElement {
        let client = self
        return try await retry.run(shouldRetry: { error in
            if let error = error as? EC2APIError { return error.isRetryable }
            return error is TransportError
        }) {
            try await client.callOnce(action, parameters)
        }
    }

    func callOnce(_ action: String, _ parameters: [(String, String)]) async throws -> XMLElement {
        let body = Self.formEncode([("Action", action), ("Version", Self.apiVersion)] + parameters)
        let host = endpoint.port.map { "\(endpoint.host ?? ""):\($0)" } ?? (endpoint.host ?? "")
        let path = endpoint.path.isEmpty ? "/" : endpoint.path
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("Host", host),
        ]
        let signer = SigV4Signer(credentials: credentials, region: region, service: "ec2")
        let signable = SigV4Request(method: "POST", path: path, query: "", headers: headers, body: Array(body.utf8))
        headers += signer.signingHeaders(for: signable, at: clock())
        let request = HTTPRequest(method: "POST", url: endpoint, headers: headers.filter { $0.name != "Host" }, body: Data(body.utf8))
        let response = try await transport.send(request)
        guard (200..<300).contains(response.status) else {
            throw EC2APIError.from(response: response, action: action)
        }
        guard let root = XMLElement.parse(response.body) else {
            throw EC2APIError(action: action, status: response.status, code: "MalformedResponse",
                              message: "the answer to \(action) is not XML", requestID: nil)
        }
        return root
    }

    /// application/x-www-form-urlencoded as the AWS SDKs send it.
    static func formEncode(_ parameters: [(String, String)]) -> String {
        FormEncoding.form(parameters)
    }
}

/// An error answer from EC2: `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
public struct EC2APIError: Error, Sendable, CustomStringConvertible {
    public var action: String
    public var status: Int
    public var code: String
    public var message: String
    public var requestID: String?

    public var description: String { "EC2 \(action) failed: \(code): \(message)" }

    static let throttling: Set<String> = [
        "RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled",
        "ServiceUnavailable", "Unavailable", "InternalError", "InternalFailure",
    ]

    public var isRetryable: Bool { status >= 500 || Self.throttling.contains(code) }

    static func from(response: HTTPResponse, action: String) -> EC2APIError {
        let root = XMLElement.parse(response.body)
        let error = root?.at("Errors", "Error") ?? root?.child("Error")
        let code = error?.string("Code") ?? "HTTP\(response.status)"
        var message = error?.string("Message") ?? ""
        if message.isEmpty {
            message = response.status >= 500 ? "the service failed" : "HTTP \(response.status)"
        }
        let requestID = root?.string("RequestID") ?? root?.string("RequestId")
        return EC2APIError(action: action, status: response.status, code: code, message: message, requestID: requestID)
    }
}
