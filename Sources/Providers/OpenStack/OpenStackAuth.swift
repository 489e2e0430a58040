import CloudcCore
import Foundation

/// How cloudc signs in to an OpenStack cloud's Keystone (v3), and where that was found.
/// The password or application-credential secret never prints: not in `description`, not in `dump`.
public struct OpenStackAuth: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    public enum Method: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
        case password(username: String, password: Secret, userDomainName: String?, userDomainID: String?)
        case applicationCredential(id: String, secret: Secret)

        /// Who signs in, for messages: `user 'alice' (domain Default)`, `application credential 4f1c`.
        public var description: String {
            switch self {
            case let .password(username, _, domainName, domainID):
                return "user '\(username)' (\(OpenStackAuth.domainPhrase(name: domainName, id: domainID) ?? "domain Default"))"
            case let .applicationCredential(id, _):
                return "application credential \(id)"
            }
        }

        public var customMirror: Mirror {
            switch self {
            case let .password(username, _, domainName, domainID):
                return Mirror(self, children: ["username": username, "userDomainName": domainName as Any,
                                               "userDomainID": domainID as Any], displayStyle: .enum)
            case let .applicationCredential(id, _):
                return Mirror(self, children: ["applicationCredentialID": id], displayStyle: .enum)
            }
        }
    }

    /// Normalised so that appending `auth/tokens` works: it ends with `/v3/`.
    public var authURL: URL
    public var method: Method
    public var projectName: String?
    public var projectID: String?
    public var projectDomainName: String?
    public var projectDomainID: String?
    /// nil: the catalog's only (or first) region.
    public var region: String?
    /// Which catalog endpoints to use: public, internal or admin.
    public var interface: String
    /// For messages: "clouds.yaml cloud 'x' (/path/clouds.yaml)", "OS_* environment variables",
    /// "clouds.NAME in the cloudc config".
    public var source: String

    public init(authURL: URL, method: Method, projectName: String? = nil, projectID: String? = nil,
                projectDomainName: String? = nil, projectDomainID: String? = nil, region: String? = nil,
                interface: String = "public", source: String) {
        self.authURL = authURL; self.method = method
        self.projectName = projectName; self.projectID = projectID
        self.projectDomainName = projectDomainName; self.projectDomainID = projectDomainID
        self.region = region; self.interface = interface; self.source = source
    }

    /// The project the token is scoped to, for messages: `project 'research' (domain Default)`,
    /// `project id 0c4e…`; nil for an application credential (its project is its own).
    public var projectPhrase: String? {
        if let projectID { return "project id \(projectID)" }
        guard let projectName else { return nil }
        let domain = Self.domainPhrase(name: projectDomainName, id: projectDomainID).map { " (\($0))" } ?? ""
        return "project '\(projectName)'\(domain)"
    }

    public var description: String {
        let project = projectPhrase.map { " in \($0)" } ?? ""
        return "\(method)\(project) at \(authURL.absoluteString), from \(source)"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["authURL": authURL.absoluteString, "method": method,
                                "projectName": projectName as Any, "projectID": projectID as Any,
                                "projectDomainName": projectDomainName as Any, "projectDomainID": projectDomainID as Any,
                                "region": region as Any, "interface": interface, "source": source],
               displayStyle: .struct)
    }

    static func domainPhrase(name: String?, id: String?) -> String? {
        if let id { return "domain id \(id)" }
        return name.map { "domain \($0)" }
    }
}
