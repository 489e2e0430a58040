import CloudcCore
import Foundation

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
