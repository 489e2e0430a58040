import CloudcCore
import Foundation

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
