import CloudcCore
import Foundation

/// Google's OAuth2 token URL: where tokens come from unless told otherwise, and always the
/// audience of a service account's JWT.
public let googleTokenURL = "https://oauth2.googleapis.com/token"

/// The scope cloudc asks for: Compute Engine, read and write.
public let computeScope = "https://www.googleapis.com/auth/compute"

/// A service-account JSON key (`"type": "service_account"`), as the Cloud console downloads it.
public struct ServiceAccountKey: Sendable, Equatable {
    public var clientEmail: String
    public var privateKeyID: String
    /// The PEM (PKCS#8) private key.
    public var privateKey: Secret
    public var projectID: String?
    public var tokenURI: String?

    public init(clientEmail: String, privateKeyID: String, privateKey: Secret, projectID: String? = nil, tokenURI: String? = nil) {
        self.clientEmail = clientEmail; self.privateKeyID = privateKeyID; self.privateKey = privateKey
        self.projectID = projectID; self.tokenURI = tokenURI
    }
}

/// gcloud's application-default credentials for a user (`"type": "authorized_user"`).
public struct AuthorizedUser: Sendable, Equatable {
    public var clientID: String
    public var clientSecret: Secret
    public var refreshToken: Secret
    public var quotaProjectID: String?

    public init(clientID: String, clientSecret: Secret, refreshToken: Secret, quotaProjectID: String? = nil) {
        self.clientID = clientID; self.clientSecret = clientSecret; self.refreshToken = refreshToken
        self.quotaProjectID = quotaProjectID
    }
}

/// Where access tokens come from, and what was looked at to decide that.
public struct GoogleCredentials: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// An RS256 JWT signed with the key, exchanged at `tokenEndpoint`.
        case serviceAccount(ServiceAccountKey)
        /// A refresh token, exchanged at `tokenEndpoint`.
        case authorizedUser(AuthorizedUser)
        /// The metadata server of the GCE VM this runs on (`host`, e.g. metadata.google.internal).
        case metadataServer(host: String)
    }

    public var kind: Kind
    /// Where the credentials were found, for messages ("service-account key /x/sa.json").
    public var source: String
    public var tokenEndpoint: URL
    /// Each place looked at before the one used, with what was found there.
    public var lookedAt: [String]

    public init(kind: Kind, source: String, tokenEndpoint: URL, lookedAt: [String] = []) {
        self.kind = kind; self.source = source; self.tokenEndpoint = tokenEndpoint; self.lookedAt = lookedAt
    }

    /// The project the credentials belong to, where they name one.
    public var projectID: String? {
        switch kind {
        case .serviceAccount(let key): return key.projectID
        case .authorizedUser(let user): return user.quotaProjectID
        case .metadataServer: return nil
        }
    }
}

/// Finds Google credentials the way Google's client libraries do (application default
/// credentials), with the cloud's `credentials:` key first:
/// `credentials:` → `GOOGLE_APPLICATION_CREDENTIALS` → gcloud's
/// `application_default_credentials.json` → the metadata server (only usable on GCE).
public struct GoogleCredentialResolver: Sendable {
    public static let defaultMetadataHost = "metadata.google.internal"

    public let environment: [String: String]
    public let homeDirectory: String

    public init(environment: [String: String], homeDirectory: String) {
        self.environment = environment; self.homeDirectory = homeDirectory
    }

    /// gcloud's config folder: `CLOUDSDK_CONFIG`, else `~/.config/gcloud`.
    var gcloudConfigDirectory: String {
        if let dir = nonEmpty("CLOUDSDK_CONFIG") { return dir }
        return homeDirectory + "/.config/gcloud"
    }

    var adcPath: String { gcloudConfigDirectory + "/application_default_credentials.json" }

    /// The credentials for `settings`; the metadata server when no file names any (its
    /// token request then says what else was looked at if it fails).
    public func credentials(for settings: GCESettings, cloud: String = "gce") throws -> GoogleCredentials {
        var looked: [String] = []
        if let path = settings.credentials.map(expandTilde), !path.isEmpty {
            return try load(path, origin: "clouds.\(cloud).credentials", settings: settings, cloud: cloud)
        }
        looked.append("clouds.\(cloud).credentials: not set")
        if let path = nonEmpty("GOOGLE_APPLICATION_CREDENTIALS").map(expandTilde) {
            return try load(path, origin: "GOOGLE_APPLICATION_CREDENTIALS", settings: settings, cloud: cloud)
        }
        looked.append("GOOGLE_APPLICATION_CREDENTIALS: not set")
        let adc = adcPath
        if FileManager.default.fileExists(atPath: adc) {
            var found = try load(adc, origin: "gcloud application-default credentials", settings: settings, cloud: cloud)
            found.lookedAt = looked
            return found
        }
        looked.append("\(adc): no such file")
        let host = nonEmpty("GCE_METADATA_HOST") ?? Self.defaultMetadataHost
        return GoogleCredentials(kind: .metadataServer(host: host), source: "the GCE metadata server (\(host))",
                                 tokenEndpoint: try tokenEndpoint(settings, keyURI: nil, cloud: cloud), lookedAt: looked)
    }

    /// The project to work in: the cloud's `project:`, else the one the credentials name,
    /// else `GOOGLE_CLOUD_PROJECT` / `CLOUDSDK_CORE_PROJECT`.
    public func project(for settings: GCESettings, credentials: GoogleCredentials, cloud: String = "gce") throws -> String {
        if let project = settings.project, !project.isEmpty { return project }
        if let project = credentials.projectID, !project.isEmpty { return project }
        if let project = nonEmpty("GOOGLE_CLOUD_PROJECT") ?? nonEmpty("CLOUDSDK_CORE_PROJECT") { return project }
        throw CloudcError(.config, "no Google Cloud project for cloud '\(cloud)': \(credentials.source) names none",
                          fix: "set project: in clouds.\(cloud) to your project id (e.g. my-project-123456), or GOOGLE_CLOUD_PROJECT")
    }

    /// Reads a credentials file of either type. A file that is named but unusable is an
    /// error, never a silent fall-through to the next source.
    func load(_ path: String, origin: String, settings: GCESettings, cloud: String) throws -> GoogleCredentials {
        let source = "\(origin) (\(path))"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CloudcError(.credentials, "cannot read the Google credentials file \(path) named by \(origin)",
                              fix: "point it at a service-account JSON key you can read, or run: gcloud auth application-default login")
        }
        guard let json = JSONValue.parse(data), json.object != nil else {
            throw CloudcError(.credentials, "\(path) is not a Google credentials JSON file",
                              fix: "download a JSON key for a service account (IAM → Service accounts → Keys), or run: gcloud auth application-default login")
        }
        func field(_ name: String) throws -> String {
            guard let value = json[name]?.string, !value.isEmpty else {
                throw CloudcError(.credentials, "\(path) has no \(name)",
                                  fix: "download a fresh key for the service account, or run: gcloud auth application-default login")
            }
            return value
        }
        let type = json["type"]?.string ?? ""
        switch type {
        case "service_account":
            let key = ServiceAccountKey(
                clientEmail: try field("client_email"), privateKeyID: try field("private_key_id"),
                privateKey: Secret(try field("private_key")), projectID: json["project_id"]?.string,
                tokenURI: json["token_uri"]?.string)
            return GoogleCredentials(kind: .serviceAccount(key), source: "service-account key \(key.clientEmail) from \(source)",
                                     tokenEndpoint: try tokenEndpoint(settings, keyURI: key.tokenURI, cloud: cloud))
        case "authorized_user":
            let user = AuthorizedUser(clientID: try field("client_id"), clientSecret: Secret(try field("client_secret")),
                                      refreshToken: Secret(try field("refresh_token")),
                                      quotaProjectID: json["quota_project_id"]?.string)
            return GoogleCredentials(kind: .authorizedUser(user), source: source,
                                     tokenEndpoint: try tokenEndpoint(settings, keyURI: json["token_uri"]?.string, cloud: cloud))
        default:
            throw CloudcError(.credentials, "\(path) holds credentials of type '\(type)', which cloudc cannot use",
                              fix: "use a service-account key (type service_account) or gcloud's application-default credentials (type authorized_user)")
        }
    }

    /// The cloud's `token_endpoint:`, else the key's `token_uri`, else Google's.
    func tokenEndpoint(_ settings: GCESettings, keyURI: String?, cloud: String) throws -> URL {
        let text = [settings.tokenEndpoint, keyURI].compactMap { $0 }.first { !$0.isEmpty } ?? googleTokenURL
        guard let url = URL(string: text), url.scheme == "https" || url.scheme == "http", url.host != nil else {
            throw CloudcError(.config, "the token endpoint '\(text)' is not an http(s) URL",
                              fix: "set token_endpoint: in clouds.\(cloud) to a URL such as \(googleTokenURL), or remove it")
        }
        return url
    }

    func nonEmpty(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    func expandTilde(_ path: String) -> String { HomePath.expand(path, home: homeDirectory) }
}
