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

/// Finds the Keystone credentials of an OpenStack cloud the way openstacksdk (and so the
/// `openstack` command) does, then lays the cloudc config's own keys over them:
///
/// 1. a cloud named by the cloud's `cloud:` key, else by `OS_CLOUD`, looked up in the first
///    `clouds.yaml` found (`OS_CLIENT_CONFIG_FILE`, else `./`, `~/.config/openstack/`,
///    `/etc/openstack/`), with the first `secure.yaml` found (`OS_CLIENT_SECURE_FILE`, else the
///    same folders) deep-merged over it. Unlike openstacksdk, a file that one of those variables
///    names but that is missing is an error, not a silent fall-through to the usual places;
/// 2. else the `OS_*` environment variables, when they hold credentials (`OS_AUTH_URL`, ...);
/// 3. else, when the cloud's settings give no `auth_url`, the only cloud of clouds.yaml;
/// 4. then the cloud's settings (`auth_url`, `username`, `password`, ...) override any of those,
///    and a clouds.yaml entry that still has no password takes `OS_PASSWORD`, as
///    `openstack --os-cloud` does.
///
/// Keys follow openstacksdk: they may sit under `auth:` or beside it (beside wins), `-` and `_`
/// are the same, `tenant_*` means `project_*`, `endpoint_type` means `interface`, and
/// `domain_name` / `domain_id` stand for the user's and the project's domain where those are
/// not given. `auth_type` is inferred when absent: an application credential when one is
/// named, else password. The environment and folders are parameters, so tests need no real files.
public struct OpenStackCredentialResolver: Sendable, CustomStringConvertible, CustomReflectable {
    /// Holds secrets (`OS_PASSWORD`), so it is not shown by `description` or `dump`.
    let environment: [String: String]
    public let homeDirectory: String
    public let workingDirectory: String
    /// The system-wide folder, `/etc/openstack`; tests use another.
    let systemDirectory: String

    public init(environment: [String: String], homeDirectory: String, workingDirectory: String) {
        self.init(environment: environment, homeDirectory: homeDirectory, workingDirectory: workingDirectory,
                  systemDirectory: "/etc/openstack")
    }

    init(environment: [String: String], homeDirectory: String, workingDirectory: String, systemDirectory: String) {
        self.environment = environment
        self.homeDirectory = homeDirectory
        self.workingDirectory = workingDirectory
        self.systemDirectory = systemDirectory
    }

    public var description: String {
        "OpenStackCredentialResolver(searchDirectories: \(searchDirectories.joined(separator: ", ")))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["homeDirectory": homeDirectory, "workingDirectory": workingDirectory,
                                "searchDirectories": searchDirectories], displayStyle: .struct)
    }

    /// Where clouds.yaml and secure.yaml are looked for, in order: the working directory,
    /// `$XDG_CONFIG_HOME/openstack` (when set), `~/.config/openstack`, `/etc/openstack`.
    public var searchDirectories: [String] {
        var directories = [workingDirectory]
        if let xdg = variable("XDG_CONFIG_HOME") { directories.append(expandingTilde(xdg) + "/openstack") }
        directories.append(homeDirectory + "/.config/openstack")
        directories.append(systemDirectory)
        var seen = Set<String>()
        return directories.map(Self.withoutTrailingSlash).filter { seen.insert($0).inserted }
    }

    /// The clouds.yaml files that may be read, in order: `OS_CLIENT_CONFIG_FILE` alone when it is
    /// set, else `clouds.yaml`, `clouds.yml` and `clouds.json` in each search directory.
    public var cloudsFileCandidates: [String] { candidates("clouds", override: "OS_CLIENT_CONFIG_FILE") }

    /// The same for secure.yaml, with `OS_CLIENT_SECURE_FILE`.
    public var secureFileCandidates: [String] { candidates("secure", override: "OS_CLIENT_SECURE_FILE") }

    /// The credentials for the cloudc cloud `cloud` (its name, for messages), whose settings are
    /// `settings`. Throws `CloudcError(.credentials)` when something is missing or the named cloud
    /// is not found, and `CloudcError(.config)` for files or values that are wrong; no message
    /// ever holds a password or secret.
    public func resolve(_ settings: OpenStackSettings, cloud: String) throws -> OpenStackAuth {
        var entry: Entry
        if let name = Self.nonEmpty(settings.cloud) {
            entry = try namedCloud(name, chosenBy: .config, cloudcCloud: cloud)
        } else if let name = variable("OS_CLOUD") {
            entry = try namedCloud(name, chosenBy: .environment, cloudcCloud: cloud)
        } else if let fromEnvironment = environmentEntry(cloudcCloud: cloud) {
            entry = fromEnvironment
        } else if Self.nonEmpty(settings.authURL) != nil {
            entry = Entry(keys: [:], regions: [], origin: .config, cloudcCloud: cloud)
        } else {
            entry = try onlyCloud(cloudcCloud: cloud)
        }
        entry.override(with: settings)
        if case .cloudsFile = entry.origin, entry.keys["password"] == nil, let password = variable("OS_PASSWORD") {
            // As `openstack --os-cloud` does: a clouds.yaml entry without a password takes OS_PASSWORD.
            entry.keys["password"] = password
            entry.passwordFromEnvironment = true
        }
        return try entry.auth()
    }
}

// MARK: - Where the keys come from

extension OpenStackCredentialResolver {
    /// Who named the clouds.yaml cloud.
    enum Chooser {
        /// `cloud:` in the cloudc config.
        case config
        /// `OS_CLOUD`.
        case environment
        /// Nothing: the file has just this one.
        case onlyOne
    }

    /// `OS_*` variables that are only selectors, not credentials: on their own they do not make
    /// the environment a source (as in openstacksdk).
    static let environmentSelectors: Set<String> = [
        "OS_CLOUD", "OS_REGION_NAME", "OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE", "OS_CLOUD_NAME",
        "OS_INTERFACE", "OS_ENDPOINT_TYPE", "OS_IDENTITY_API_VERSION",
    ]

    /// The `OS_*` variables as a cloud entry (`OS_AUTH_URL` → `auth_url`), or nil when they hold
    /// no more than selectors.
    func environmentEntry(cloudcCloud: String) -> Entry? {
        var keys: [String: String] = [:]
        var credentials = false
        for (name, value) in environment where name.hasPrefix("OS_") && !value.isEmpty {
            // oslotest's and CI's own variables are not cloud settings.
            if ["OS_TEST", "OS_STD", "OS_LOG"].contains(where: name.hasPrefix) { continue }
            keys[Entry.normalizedKey(String(name.dropFirst(3)))] = value
            if !Self.environmentSelectors.contains(name) { credentials = true }
        }
        guard credentials else { return nil }
        return Entry(keys: keys, regions: [], origin: .environment, cloudcCloud: cloudcCloud)
    }

    /// The clouds.yaml entry `name`, with secure.yaml laid over it.
    func namedCloud(_ name: String, chosenBy chooser: Chooser, cloudcCloud: String, files: Files? = nil) throws -> Entry {
        let namedBy = switch chooser {
        case .config: "named by cloud: in clouds.\(cloudcCloud) of the cloudc config"
        case .environment: "named by OS_CLOUD"
        case .onlyOne: "the only cloud there"
        }
        let files = try files ?? loadFiles()
        guard let shown = files.shownPath else {
            throw CloudcError(
                .credentials,
                "OpenStack cloud '\(name)' (\(namedBy)) cannot be looked up: no clouds.yaml found (looked at \(files.lookedAt)).",
                fix: "Save your cloud's clouds.yaml (dashboard: API Access → Download OpenStack RC File → clouds.yaml) "
                    + "as ~/.config/openstack/clouds.yaml, or point OS_CLIENT_CONFIG_FILE at it.")
        }
        let clouds = files.merged["clouds"]?.map ?? [:]
        guard let found = clouds[name] else {
            let names = clouds.keys.sorted()
            let has = names.isEmpty ? "which has no clouds" : "which has: \(names.joined(separator: ", "))"
            let hint = Suggestions.closest(to: name, in: names).map { "; did you mean '\($0)'?" } ?? ""
            let choose = names.isEmpty ? "a cloud name" : "one of \(names.joined(separator: ", "))"
            throw CloudcError(
                .credentials,
                "OpenStack cloud '\(name)' (\(namedBy)) is not in \(shown), \(has)\(hint)",
                fix: (chooser == .config ? "Set cloud: in clouds.\(cloudcCloud) to \(choose)"
                                         : "Export OS_CLOUD=<\(choose)>, or unset it")
                    + ", or add a '\(name)' entry under clouds: in \(shown).")
        }
        guard let entry = found.map else {
            throw CloudcError(.config, "OpenStack cloud '\(name)' in \(shown) is not a mapping of settings.",
                              fix: "give it keys such as `auth:` (with auth_url, username, password, project_name) and `region_name:`")
        }
        if let auth = entry["auth"], auth.map == nil {
            throw CloudcError(.config, "clouds.\(name).auth in \(shown) is not a mapping.",
                              fix: "indent auth_url, username, password, project_name ... under `auth:`")
        }
        let secure = files.secure.flatMap { $0.clouds[name] != nil ? $0.displayPath : nil }
        let (keys, regions) = Entry.keys(of: entry)
        return Entry(keys: keys, regions: regions,
                     origin: .cloudsFile(name: name, file: shown, secureFile: files.clouds == nil ? nil : secure),
                     cloudcCloud: cloudcCloud)
    }

    /// openstacksdk's fallback when nothing names a cloud: the only cloud of clouds.yaml.
    func onlyCloud(cloudcCloud: String) throws -> Entry {
        let files = try loadFiles()
        let names = (files.merged["clouds"]?.map ?? [:]).keys.sorted()
        if names.count == 1, let name = names.first {
            return try namedCloud(name, chosenBy: .onlyOne, cloudcCloud: cloudcCloud, files: files)
        }
        if let shown = files.shownPath, !names.isEmpty {
            throw CloudcError(
                .credentials,
                "No OpenStack cloud is chosen for clouds.\(cloudcCloud): it has no cloud: key, OS_CLOUD is not set, "
                    + "and \(shown) has several clouds: \(names.joined(separator: ", ")).",
                fix: "Add `cloud: \(names[0])` (or another of them) to clouds.\(cloudcCloud) in the cloudc config, or export OS_CLOUD.")
        }
        let found = files.shownPath.map { "\($0) has no clouds" } ?? "no clouds.yaml found (looked at \(files.lookedAt))"
        throw CloudcError(
            .credentials,
            "No OpenStack credentials found for clouds.\(cloudcCloud): it has neither cloud: nor auth_url:, "
                + "OS_CLOUD and OS_AUTH_URL are not set, and \(found).",
            fix: "Save your cloud's clouds.yaml as ~/.config/openstack/clouds.yaml and add `cloud: NAME` to clouds.\(cloudcCloud), "
                + "or source your cloud's openrc file (OS_AUTH_URL, OS_USERNAME, ...), "
                + "or give auth_url, username, password and project_name in clouds.\(cloudcCloud).")
    }

    /// The first clouds.yaml and secure.yaml found, and the two laid one over the other.
    struct Files {
        var clouds: OpenStackCloudsFile?
        var secure: OpenStackCloudsFile?
        /// The places searched for clouds.yaml, for messages.
        var lookedAt: String

        var merged: CloudsYAMLValue {
            let base = clouds?.root ?? .map([:])
            return secure.map { base.merging($0.root) } ?? base
        }

        /// The file to name in messages: clouds.yaml, else the secure.yaml that stands in for it.
        var shownPath: String? { clouds?.displayPath ?? secure?.displayPath }
    }

    func loadFiles() throws -> Files {
        let clouds = try firstFile(cloudsFileCandidates, override: "OS_CLIENT_CONFIG_FILE")
        let secure = try firstFile(secureFileCandidates, override: "OS_CLIENT_SECURE_FILE")
        let looked: String
        if let file = variable("OS_CLIENT_CONFIG_FILE") {
            looked = "OS_CLIENT_CONFIG_FILE=\(file)"
        } else {
            looked = searchDirectories.map { display($0 + "/clouds.yaml") }.joined(separator: ", ") + " (and .yml, .json)"
        }
        return Files(clouds: clouds, secure: secure, lookedAt: looked)
    }

    /// The first of `paths` that exists, parsed. A file named by `override` that is missing is an
    /// error, not a silent fall-through to the usual places.
    func firstFile(_ paths: [String], override: String) throws -> OpenStackCloudsFile? {
        for path in paths {
            if let file = try OpenStackCloudsFile.load(path: path, displayPath: display(path)) { return file }
        }
        if let named = variable(override) {
            throw CloudcError(.config, "\(override) names \(named), which does not exist.",
                              fix: "Point \(override) at your file, or unset it to use the usual places "
                                  + "(./, ~/.config/openstack/, /etc/openstack/).")
        }
        return nil
    }

    func candidates(_ base: String, override: String) -> [String] {
        if let file = variable(override) { return [expandingTilde(file)] }
        return searchDirectories.flatMap { directory in
            [".yaml", ".yml", ".json"].map { directory + "/" + base + $0 }
        }
    }

    func variable(_ name: String) -> String? {
        Self.nonEmpty(environment[name])
    }

    static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return value
    }

    func expandingTilde(_ path: String) -> String { HomePath.expand(path, home: homeDirectory) }

    /// `path` with the home directory shown as `~`, for messages.
    func display(_ path: String) -> String {
        let home = Self.withoutTrailingSlash(homeDirectory)
        guard !home.isEmpty, path.hasPrefix(home + "/") else { return path }
        return "~" + path.dropFirst(home.count)
    }

    static func withoutTrailingSlash(_ path: String) -> String {
        path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }
}

// MARK: - One cloud's keys, to credentials

extension OpenStackCredentialResolver {
    /// The keys of one cloud (normalised: `auth:` flattened, `-` as `_`, old names as new), where
    /// they came from, and which of them the cloudc config set.
    struct Entry {
        enum Origin {
            case cloudsFile(name: String, file: String, secureFile: String?)
            case environment
            case config
        }

        var keys: [String: String]
        /// clouds.yaml's `regions:` list; the first is the default region.
        var regions: [String]
        var origin: Origin
        /// The cloudc cloud's name, for messages (`clouds.<name>` in the cloudc config).
        var cloudcCloud: String
        /// Credential keys the cloudc config set over the clouds.yaml entry or the environment.
        var overridden: [String] = []
        var passwordFromEnvironment = false

        init(keys: [String: String], regions: [String], origin: Origin, cloudcCloud: String) {
            self.keys = Self.withAliases(keys)
            self.regions = regions
            self.origin = origin
            self.cloudcCloud = cloudcCloud
        }

        static func normalizedKey(_ key: String) -> String {
            key.lowercased().replacingOccurrences(of: "-", with: "_")
        }

        /// A clouds.yaml entry's text values, flattened: `auth:` first, then the entry's own
        /// keys, which win (as in openstacksdk).
        static func keys(of entry: [String: CloudsYAMLValue]) -> (keys: [String: String], regions: [String]) {
            var keys: [String: String] = [:]
            for (key, value) in entry["auth"]?.map ?? [:] {
                if let text = value.text, !text.isEmpty { keys[normalizedKey(key)] = text }
            }
            for (key, value) in entry where key != "auth" {
                if let text = value.text, !text.isEmpty { keys[normalizedKey(key)] = text }
            }
            var regions: [String] = []
            let listed = entry["regions"]?.list ?? entry["region_name"]?.list ?? []
            for region in listed {
                if let name = region.text ?? region["name"]?.text, !name.isEmpty { regions.append(name) }
            }
            return (keys, regions)
        }

        /// openstacksdk's old names as the new ones, and `domain_*` as the user's and project's.
        static func withAliases(_ keys: [String: String]) -> [String: String] {
            var keys = keys
            for (old, new) in [("tenant_name", "project_name"), ("tenant_id", "project_id"),
                               ("endpoint_type", "interface"), ("auth_plugin", "auth_type")] {
                if let value = keys.removeValue(forKey: old), keys[new] == nil { keys[new] = value }
            }
            for part in ["name", "id"] {
                guard let value = keys.removeValue(forKey: "domain_\(part)") else { continue }
                for owner in ["user", "project"] where keys["\(owner)_domain_\(part)"] == nil {
                    keys["\(owner)_domain_\(part)"] = value
                }
            }
            return keys
        }

        /// The cloudc config's explicit keys over the rest. A name given there replaces the
        /// matching id, and choosing a user or an application credential there chooses the method.
        mutating func override(with settings: OpenStackSettings) {
            @discardableResult
            func set(_ key: String, _ value: String?, replacing others: [String] = []) -> Bool {
                guard let value = OpenStackCredentialResolver.nonEmpty(value) else { return false }
                keys[key] = value
                for other in others { keys[other] = nil }
                if case .config = origin {} else { overridden.append(key) }
                return true
            }
            set("auth_url", settings.authURL)
            let user = set("username", settings.username, replacing: ["user_id"])
            set("password", settings.password)
            set("project_name", settings.projectName, replacing: ["project_id"])
            set("user_domain_name", settings.userDomain, replacing: ["user_domain_id"])
            set("project_domain_name", settings.projectDomain, replacing: ["project_domain_id"])
            let applicationCredential = set("application_credential_id", settings.applicationCredentialID,
                                            replacing: ["application_credential_name"])
            set("application_credential_secret", settings.applicationCredentialSecret)
            if applicationCredential {
                keys["auth_type"] = "v3applicationcredential"
            } else if user {
                keys["auth_type"] = "password"
            }
            if let region = OpenStackCredentialResolver.nonEmpty(settings.region) {
                keys["region_name"] = region
                regions = []
            }
            if let interface = OpenStackCredentialResolver.nonEmpty(settings.interface) {
                keys["interface"] = interface
            }
        }

        /// Where the credentials came from, for messages.
        func source(passwordMethod: Bool) -> String {
            var text: String
            switch origin {
            case let .cloudsFile(name, file, secureFile):
                text = "clouds.yaml cloud '\(name)' (\(file)" + (secureFile.map { " and \($0)" } ?? "") + ")"
            case .environment:
                text = "OS_* environment variables"
            case .config:
                text = "clouds.\(cloudcCloud) in the cloudc config"
            }
            if !overridden.isEmpty {
                text += ", with \(overridden.joined(separator: ", ")) from clouds.\(cloudcCloud) in the cloudc config"
            }
            if passwordFromEnvironment, passwordMethod, !overridden.contains("password") {
                text += ", with the password from OS_PASSWORD"
            }
            return text
        }

        /// Where the keys live, for messages: `OpenStack cloud 'x' in ~/.config/openstack/clouds.yaml`.
        var place: String {
            switch origin {
            case let .cloudsFile(name, file, _): return "OpenStack cloud '\(name)' in \(file)"
            case .environment: return "The OS_* environment variables"
            case .config: return "clouds.\(cloudcCloud) in the cloudc config"
            }
        }

        var placeVerb: String {
            if case .environment = origin { return "have" }
            return "has"
        }

        /// How to give `key`, for a fix.
        func howToSet(_ key: String, example: String) -> String {
            let inConfig = "`\(key): \(example)` in clouds.\(cloudcCloud) of the cloudc config"
            switch origin {
            case let .cloudsFile(name, file, _):
                switch key {
                case "password":
                    return "Add `password: …` under clouds.\(name).auth in \(file) (or in secure.yaml beside it), "
                        + "export OS_PASSWORD, or set \(inConfig)."
                case "application_credential_secret":
                    return "Add `\(key): \(example)` under clouds.\(name).auth in \(file) (or in secure.yaml beside it), "
                        + "or set \(inConfig)."
                default:
                    return "Add `\(key): \(example)` under clouds.\(name).auth in \(file), or set \(inConfig)."
                }
            case .environment:
                return "Export OS_\(key.uppercased())=\(example) (your cloud's openrc file sets it), or set \(inConfig)."
            case .config:
                return "Set \(inConfig), or use `cloud:` with a clouds.yaml entry."
            }
        }

        /// `key` as this origin spells it: `OS_AUTH_URL` in the environment, `auth_url` elsewhere.
        func name(of key: String) -> String {
            if case .environment = origin { return "OS_\(key.uppercased())" }
            return key
        }

        func missing(_ key: String, example: String, why: String = "") -> CloudcError {
            CloudcError(.credentials, "\(place) \(placeVerb) no \(name(of: key))\(why).",
                               fix: howToSet(key, example: example))
        }

        func auth() throws -> OpenStackAuth {
            if let version = keys["identity_api_version"], !version.hasPrefix("3") {
                throw CloudcError(.config, "\(place) asks for Keystone identity API version \(version); cloudc speaks v3 only.",
                                  fix: "Remove identity_api_version (or set it to 3) and use the v3 auth URL, e.g. https://keystone.example.org:5000/v3.")
            }
            guard let authURLText = keys["auth_url"] else {
                var why = ""
                if case .cloudsFile = origin, let profile = keys["profile"] ?? keys["cloud"] {
                    why = " (it uses the vendor profile '\(profile)', which cloudc does not read)"
                }
                throw missing("auth_url", example: "https://keystone.example.org:5000/v3", why: why)
            }
            guard let authURL = OpenStackCredentialResolver.normalizedAuthURL(authURLText) else {
                throw CloudcError(.config, "\(place): auth_url '\(authURLText)' is not an http(s) URL.",
                                  fix: "Use Keystone's URL, e.g. https://keystone.example.org:5000/v3.")
            }

            let authType = keys["auth_type"]?.lowercased() ?? inferredAuthType
            let method: OpenStackAuth.Method
            var projectName: String?, projectID: String?, projectDomainName: String?, projectDomainID: String?
            switch authType {
            case "password", "v3password":
                guard let username = keys["username"] else {
                    if keys["user_id"] != nil {
                        throw CloudcError(.credentials, "\(place) names the user by user_id; cloudc signs in by user name.",
                                          fix: howToSet("username", example: "alice"))
                    }
                    throw missing("username", example: "alice")
                }
                guard let password = keys["password"] else { throw missing("password", example: "…") }
                let userDomainID = keys["user_domain_id"]
                let userDomainName = keys["user_domain_name"] ?? (userDomainID == nil ? "Default" : nil)
                method = .password(username: username, password: Secret(password),
                                   userDomainName: userDomainName, userDomainID: userDomainID)
                projectID = keys["project_id"]
                projectName = keys["project_name"]
                projectDomainID = keys["project_domain_id"]
                projectDomainName = keys["project_domain_name"]
                    ?? (projectID == nil && projectDomainID == nil ? "Default" : nil)
                if projectID == nil, projectName == nil {
                    throw missing("project_name", example: "my-project",
                                  why: " (nor \(name(of: "project_id"))): cloudc needs a token scoped to a project")
                }
            case "v3applicationcredential":
                guard let id = keys["application_credential_id"] else {
                    if keys["application_credential_name"] != nil {
                        throw CloudcError(.credentials, "\(place) names the application credential by name; cloudc needs its id.",
                                          fix: howToSet("application_credential_id", example: "<id from `openstack application credential list`>"))
                    }
                    throw missing("application_credential_id", example: "…")
                }
                guard let secret = keys["application_credential_secret"] else {
                    throw missing("application_credential_secret", example: "…")
                }
                method = .applicationCredential(id: id, secret: Secret(secret))
            case "v2password", "v2token":
                throw CloudcError(.config, "\(place) uses auth_type \(authType): Keystone v2.0, which cloudc does not speak.",
                                  fix: "Use auth_type: password (Keystone v3) with a v3 auth_url.")
            default:
                throw CloudcError(.config, "\(place) uses auth_type '\(authType)', which cloudc does not support.",
                                  fix: "Use password authentication (auth_type: password) or an application credential "
                                      + "(auth_type: v3applicationcredential, with application_credential_id and _secret).")
            }

            let interfaceText = keys["interface"] ?? "public"
            guard let interface = OpenStackCredentialResolver.normalizedInterface(interfaceText) else {
                throw CloudcError(.config, "\(place): interface '\(interfaceText)' is not public, internal or admin.",
                                  fix: "Set interface to public (the default), internal or admin.")
            }
            let region = keys["region_name"].flatMap { $0.split(separator: ",").first.map(String.init) } ?? regions.first

            var passwordMethod = false
            if case .password = method { passwordMethod = true }
            return OpenStackAuth(authURL: authURL, method: method, projectName: projectName, projectID: projectID,
                                 projectDomainName: projectDomainName, projectDomainID: projectDomainID,
                                 region: region?.trimmingCharacters(in: .whitespaces), interface: interface,
                                 source: source(passwordMethod: passwordMethod))
        }

        /// An application credential when one is named (or only its secret is given, with no
        /// user), else password.
        var inferredAuthType: String {
            let named = keys["application_credential_id"] != nil || keys["application_credential_name"] != nil
            let secretAlone = keys["application_credential_secret"] != nil && keys["username"] == nil && keys["user_id"] == nil
            return named || secretAlone ? "v3applicationcredential" : "password"
        }
    }

    /// Keystone's URL as a base that `auth/tokens` can be appended to: ending in `/v3/`. A URL
    /// without a version gets `v3/`; a v2.0 URL is taken as the v3 one beside it.
    static func normalizedAuthURL(_ text: String) -> URL? {
        guard var components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)),
              let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = components.host, !host.isEmpty
        else { return nil }
        var parts = components.path.split(separator: "/").map(String.init)
        switch parts.last?.lowercased() {
        case "v3": break
        case "v2.0", "v2": parts[parts.count - 1] = "v3"
        default: parts.append("v3")
        }
        components.path = "/" + parts.joined(separator: "/") + "/"
        components.query = nil
        components.fragment = nil
        return components.url
    }

    /// `public`, `internal` or `admin`; the old `publicURL` spellings too.
    static func normalizedInterface(_ text: String) -> String? {
        var interface = text.trimmingCharacters(in: .whitespaces).lowercased()
        if interface.hasSuffix("url") { interface.removeLast(3) }
        return ["public", "internal", "admin"].contains(interface) ? interface : nil
    }
}
