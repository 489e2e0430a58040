import CloudcCore
import Crypto
import _CryptoExtras
import Foundation

/// The RS256 JWT a service account exchanges for an access token
/// (https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests),
/// built in the spec's stages: header and claims → signing input → signature → assertion.
/// Time is a parameter, so a test gets the same JWT twice.
public struct GoogleJWT: Sendable {
    public struct Header: Codable, Equatable, Sendable {
        public var alg: String
        public var typ: String
        public var kid: String
    }

    public struct Claims: Codable, Equatable, Sendable {
        public var iss: String
        public var scope: String
        public var aud: String
        public var iat: Int
        public var exp: Int
    }

    /// Google accepts assertions valid for at most an hour.
    public static let lifetime = 3600

    let key: ServiceAccountKey
    let signingKey: _RSA.Signing.PrivateKey

    /// Fails with a `.credentials` error (naming `source`, never the key) if the key is not an RSA PEM key.
    public init(key: ServiceAccountKey, source: String) throws {
        self.key = key
        do {
            self.signingKey = try _RSA.Signing.PrivateKey(pemRepresentation: key.privateKey.value)
        } catch {
            throw CloudcError(.credentials, "the private_key of \(source) is not an RSA private key in PEM form",
                              fix: "download a new JSON key for \(key.clientEmail) (IAM → Service accounts → Keys → Add key)")
        }
    }

    func header() -> Header { Header(alg: "RS256", typ: "JWT", kid: key.privateKeyID) }

    /// The claims: always Google's token URL as audience (what Google checks), even when
    /// the exchange goes to another endpoint.
    func claims(issuedAt: Date, scope: String) -> Claims {
        let iat = Int(issuedAt.timeIntervalSince1970)
        return Claims(iss: key.clientEmail, scope: scope, aud: googleTokenURL, iat: iat, exp: iat + Self.lifetime)
    }

    /// `base64url(header) + "." + base64url(claims)`.
    func signingInput(header: Header, claims: Claims) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Self.base64url(try encoder.encode(header)) + "." + Self.base64url(try encoder.encode(claims))
    }

    /// RSASSA-PKCS1-v1_5 over SHA-256 (JWS "RS256").
    func signature(of input: String) throws -> Data {
        let signature = try signingKey.signature(for: SHA256.hash(data: Data(input.utf8)), padding: .insecurePKCS1v1_5)
        return signature.rawRepresentation
    }

    /// The signed JWT, ready for `assertion=`.
    public func assertion(issuedAt: Date, scope: String = computeScope) throws -> Secret {
        let input = try signingInput(header: header(), claims: claims(issuedAt: issuedAt, scope: scope))
        return Secret(input + "." + Self.base64url(try signature(of: input)))
    }

    /// Base64url without padding (RFC 7515 §2).
    public static func base64url(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The inverse of `base64url`; nil for text that is not base64url.
    public static func base64urlDecode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
