import CloudcCore
import Foundation

/// An API's refusal that carries its HTTP status.
protocol HTTPStatusError: Error {
    var status: Int { get }
}

/// One JSON call to an API that takes a token (Compute Engine's bearer token, Keystone's
/// X-Auth-Token): the token in its header, passing failures retried with backoff when the call
/// may be repeated, a refused token (401) fetched anew once, the answer parsed. Each API says
/// how its tokens travel and how its refusals read; the rest is this one rule.
struct TokenJSONClient: Sendable {
    /// The header a token travels in.
    let header: @Sendable (Secret) -> (name: String, value: String)
    /// The current token, and the way to forget it after a 401.
    let token: @Sendable () async throws -> Secret
    let forgetToken: @Sendable () async -> Void
    /// The API's error for a non-2xx answer, and for a 2xx answer that is not JSON.
    let refusal: @Sendable (HTTPResponse) -> any HTTPStatusError
    let malformed: @Sendable (_ status: Int) -> any Error
    /// Whether an API error is worth another try (throttled, a server failing for a moment).
    let isRetryable: @Sendable (any HTTPStatusError) -> Bool
    let transport: any HTTPTransport
    let retry: RetryPolicy

    /// Sends one call; returns the JSON answer (`null` for an empty body). With `idempotent`
    /// false the call is sent once (no token to make a repeat safe), 401 aside.
    func call(_ method: String, _ url: URL, body: JSONValue?, idempotent: Bool = true) async throws -> JSONValue {
        let client = self
        var refusedOnce = false
        while true {
            do {
                if !idempotent { return try await client.send(method, url, body: body) }
                return try await retry.run(shouldRetry: { client.isPassing($0) }) {
                    try await client.send(method, url, body: body)
                }
            } catch let error as any HTTPStatusError where error.status == 401 && !refusedOnce {
                // The token may have been revoked or expired early: fetch a new one, once.
                refusedOnce = true
                await forgetToken()
            }
        }
    }

    func send(_ method: String, _ url: URL, body: JSONValue?) async throws -> JSONValue {
        let token = try await self.token()
        var headers: [(name: String, value: String)] = [header(token), ("Accept", "application/json")]
        var data = Data()
        if let body {
            headers.append(("Content-Type", "application/json"))
            data = body.data
        }
        let response = try await transport.send(HTTPRequest(method: method, url: url, headers: headers, body: data))
        guard (200..<300).contains(response.status) else { throw refusal(response) }
        if response.body.isEmpty { return .null }
        guard let json = JSONValue.parse(response.body) else { throw malformed(response.status) }
        return json
    }

    func isPassing(_ error: any Error) -> Bool {
        if let error = error as? any HTTPStatusError { return isRetryable(error) }
        return error is TransportError
    }
}
