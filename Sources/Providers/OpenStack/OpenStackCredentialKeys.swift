import CloudcCore
import Foundation

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
