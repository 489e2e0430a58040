import CloudcCore
import Crypto
import Foundation

/// One HTTP request, as it will be sent, for `SigV4Signer` to sign.
public struct SigV4Request: Sendable {
    /// `GET`, `POST`, …
    public var method: String
    /// The path as sent on the wire, already percent-encoded (`/`, `/a%20b`).
    public var path: String
    /// The raw query string as sent, without the `?` (`""` when there is none).
    /// Encode spaces as `%20`, not `+`: AWS reads `+` as a plus sign.
    public var query: String
    /// Every header that will be sent, `Host` included, in order; duplicates allowed.
    public var headers: [(name: String, value: String)]
    /// The exact body bytes (`[]` for none).
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "",
                headers: [(name: String, value: String)], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

/// Signs requests with AWS Signature Version 4 (the `Authorization` header variant), following
/// the rules for every service but S3: the path is normalised and encoded a second time.
///
/// The work is split into the spec's stages, each an internal function tested on its own
/// against AWS's test suite: canonical request → string to sign → signing key → signature.
/// Time is a parameter, so a signature can be reproduced.
///
/// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
public struct SigV4Signer: Sendable, CustomStringConvertible {
    public let credentials: AWSCredentials
    public let region: String
    public let service: String

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The headers to set on `request` before it is sent, replacing any of the same name:
    /// `Authorization`, `X-Amz-Date`, and `X-Amz-Security-Token` when the credentials carry
    /// a session token. Only these are added; `request` must already carry `Host`.
    public func signingHeaders(for request: SigV4Request, at date: Date) -> [(name: String, value: String)] {
        let signed = sign(request, at: date)
        var headers = [(name: "Authorization", value: signed.authorization),
                       (name: "X-Amz-Date", value: signed.timestamp.dateTime)]
        if let token = credentials.sessionToken {
            headers.append((name: "X-Amz-Security-Token", value: token.value))
        }
        return headers
    }

    public var description: String {
        "SigV4Signer(region: \(region), service: \(service), credentials: \(credentials))"
    }
}

// MARK: - The stages

extension SigV4Signer {
    static let algorithm = "AWS4-HMAC-SHA256"

    /// Headers never signed: hop-by-hop headers a proxy may change, and the ones botocore
    /// leaves out (`user-agent`, `expect`, `x-amzn-trace-id`), so that a server built on
    /// botocore computes the same canonical request. `authorization` is the signature itself.
    static let unsignedHeaders: Set<String> = [
        "authorization", "connection", "expect", "keep-alive", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
        "x-amzn-trace-id",
    ]

    /// A request time in the two forms SigV4 uses: `20150830T123600Z` and `20150830`.
    struct Timestamp: Sendable, Equatable {
        var dateTime: String
        var day: String

        /// Formats `date` in UTC, whole seconds (fractions dropped, also before 1970).
        init(_ date: Date) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = .gmt
            let whole = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: whole)
            func pad(_ value: Int?, _ width: Int) -> String {
                let digits = String(value ?? 0)
                return String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
            day = pad(parts.year, 4) + pad(parts.month, 2) + pad(parts.day, 2)
            dateTime = day + "T" + pad(parts.hour, 2) + pad(parts.minute, 2) + pad(parts.second, 2) + "Z"
        }
    }

    /// Every intermediate value of one signing, for tests and debugging. No secret in it.
    struct Signed: Sendable, Equatable {
        var timestamp: Timestamp
        var canonicalRequest: String
        var signedHeaders: String
        var stringToSign: String
        var signature: String
        var authorization: String
    }

    /// All four stages for one request.
    func sign(_ request: SigV4Request, at date: Date) -> Signed {
        let timestamp = Timestamp(date)
        let headers = headersToSign(request.headers, timestamp: timestamp)
        let canonical = Self.canonicalRequest(method: request.method, path: request.path,
                                              query: request.query, headers: headers, body: request.body)
        let scope = credentialScope(day: timestamp.day)
        let stringToSign = Self.stringToSign(canonicalRequest: canonical.text, timestamp: timestamp, scope: scope)
        let signature = Self.signature(of: stringToSign, key: signingKey(day: timestamp.day))
        let authorization = "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"
        return Signed(timestamp: timestamp, canonicalRequest: canonical.text, signedHeaders: canonical.signedHeaders,
                      stringToSign: stringToSign, signature: signature, authorization: authorization)
    }

    /// The headers the request will carry once signed: its own, less any old `Authorization`,
    /// with `X-Amz-Date` (and `X-Amz-Security-Token` when there is a session token) set by
    /// the signer, replacing values the request may already carry. Headers in `unsignedHeaders`
    /// are left out; they are sent, not signed.
    ///
    /// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
    func headersToSign(_ headers: [(name: String, value: String)],
                       timestamp: Timestamp) -> [(name: String, value: String)] {
        var replaced: Set<String> = ["x-amz-date"]
        if credentials.sessionToken != nil { replaced.insert("x-amz-security-token") }
        var result = headers.filter { header in
            let name = header.name.lowercased().trimmingCharacters(in: .whitespaces)
            return !Self.unsignedHeaders.contains(name) && !replaced.contains(name)
        }
        result.append((name: "X-Amz-Date", value: timestamp.dateTime))
        if let token = credentials.sessionToken {
            result.append((name: "X-Amz-Security-Token", value: token.value))
        }
        return result
    }

    /// Stage 1: the canonical request and the `SignedHeaders` list.
    ///
    /// ```
    /// METHOD \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n HexSHA256(body)
    /// ```
    /// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
    static func canonicalRequest(method: String, path: String, query: String,
                                 headers: [(name: String, value: String)],
                                 body: [UInt8]) -> (text: String, signedHeaders: String) {
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers)
        let text = [
            method.uppercased(),
            canonicalURI(path),
            canonicalQueryString(query),
            canonicalHeaders,
            signedHeaders,
            Hex.encode(SHA256.hash(data: body)),
        ].joined(separator: "\n")
        return (text, signedHeaders)
    }

    /// The path with dot segments removed and duplicate slashes collapsed (as botocore's
    /// `remove_dot_segments`; a trailing slash is kept), then every segment URI-encoded.
    /// The path arrives already encoded, so this encodes it a second time (`%20` → `%2520`),
    /// as AWS expects of every service but S3.
    ///
    /// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
    /// (CanonicalURI)
    static func canonicalURI(_ path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(segment)
            }
        }
        let encoded = segments.map { uriEncode(Array($0.utf8)) }.joined(separator: "/")
        if encoded.isEmpty { return "/" }
        return "/" + encoded + (path.hasSuffix("/") ? "/" : "")
    }

    /// The query's parameters, each name and value decoded from `%XX` and encoded again
    /// the AWS way, sorted by encoded name then value (byte order), duplicates kept.
    /// A parameter without `=` gets an empty value.
    ///
    /// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
    /// (CanonicalQueryString)
    static func canonicalQueryString(_ query: String) -> String {
        let pairs = query.split(separator: "&", omittingEmptySubsequences: true).map { parameter in
            let bytes = Array(parameter.utf8)
            let split = bytes.firstIndex(of: UInt8(ascii: "=")) ?? bytes.endIndex
            let name = uriEncode(percentDecode(bytes[..<split]))
            let value = split < bytes.endIndex ? uriEncode(percentDecode(bytes[(split + 1)...])) : ""
            return (name: name, value: value)
        }
        return pairs.sorted { a, b in
            a.name == b.name ? a.value.utf8.lexicographicallyPrecedes(b.value.utf8)
                : a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        .map { "\($0.name)=\($0.value)" }
        .joined(separator: "&")
    }

    /// `name:value\n` for each header: names lowercased and sorted, values trimmed with
    /// inner runs of whitespace (line folds included) made one space, the values of a
    /// repeated header joined with commas in the order sent. Also returns `SignedHeaders`.
    ///
    /// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
    /// (CanonicalHeaders, SignedHeaders)
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (text: String, signedHeaders: String) {
        var values: [String: [String]] = [:]
        for header in headers {
            let name = header.name.lowercased().trimmingCharacters(in: .whitespaces)
            values[name, default: []].append(trimAll(header.value))
        }
        let names = values.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let text = names.map { "\($0):\(values[$0, default: []].joined(separator: ","))\n" }.joined()
        return (text, names.joined(separator: ";"))
    }

    /// Stage 2: the string to sign.
    ///
    /// ```
    /// AWS4-HMAC-SHA256 \n 20150830T123600Z \n 20150830/us-east-1/service/aws4_request \n HexSHA256(canonicalRequest)
    /// ```
    /// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-string-to-sign
    static func stringToSign(canonicalRequest: String, timestamp: Timestamp, scope: String) -> String {
        [algorithm, timestamp.dateTime, scope, Hex.encode(SHA256.hash(data: Array(canonicalRequest.utf8)))]
            .joined(separator: "\n")
    }

    /// `20150830/us-east-1/service/aws4_request`.
    ///
    /// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-string-to-sign
    func credentialScope(day: String) -> String {
        "\(day)/\(region)/\(service)/aws4_request"
    }

    /// Stage 3: the signing key, HMAC-chained from the secret key through day, region and service.
    ///
    /// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#derive-signing-key
    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey.value).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// Stage 4: the signature, hex HMAC-SHA256 of the string to sign under the signing key.
    ///
    /// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#calculate-signature
    static func signature(of stringToSign: String, key: SymmetricKey) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }
}

// MARK: - Encoding helpers

extension SigV4Signer {
    /// Percent-encodes every byte but the unreserved `A-Z a-z 0-9 - . _ ~`, with upper-case hex.
    static func uriEncode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(upperHexDigits[Int(byte >> 4)])
                out.append(upperHexDigits[Int(byte & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` sequences; anything else (a lone `%`, `+`) is kept as it is.
    static func percentDecode(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.endIndex,
               let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2]) {
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// Trims whitespace at both ends and makes every inner run of whitespace (spaces, tabs,
    /// the line breaks of a folded value) a single space.
    static func trimAll(_ value: String) -> String {
        value.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    private static let upperHexDigits = Array("0123456789ABCDEF".utf8)

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
