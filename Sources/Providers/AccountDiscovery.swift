import CloudcCore
import Foundation

/// Finds what `cloudc init` can fill a starter config with, the way each cloud's own tool would
/// find it: the user's SSH key; gcloud's credentials, project and zone; the AWS profile and
/// region; the clouds.yaml entry. It reads files and the environment only: no network, and no
/// secret leaves it (paths and names only).
public struct AccountDiscovery: Sendable {
    public let environment: [String: String]
    public let homeDirectory: String
    public let workingDirectory: String

    public init(environment: [String: String], homeDirectory: String, workingDirectory: String) {
        self.environment = environment; self.homeDirectory = homeDirectory; self.workingDirectory = workingDirectory
    }

    /// The key types cloudc takes, in its order. Not RSA: libssh2 1.10 signs RSA only with SHA-1,
    /// which current sshd refuses; a user with only an RSA key gets a key made for cloudc instead.
    static let keyNames = ["id_ed25519", "id_ecdsa"]

    public func discover() -> Discovered {
        Discovered(sshKey: sshKey(), gce: gce(), aws: aws(), openstack: openstack())
    }

    /// `~/.ssh/id_ed25519` (then id_ecdsa) with its `.pub` beside it.
    public func sshKey() -> String? {
        Self.keyNames.map { homeDirectory + "/.ssh/" + $0 }.first { path in
            FileManager.default.isReadableFile(atPath: path) && FileManager.default.fileExists(atPath: path + ".pub")
        }
    }

    // MARK: Compute Engine

    func gce() -> Discovered.GCE? {
        let resolver = GoogleCredentialResolver(environment: environment, homeDirectory: homeDirectory)
        guard let credentials = try? resolver.credentials(for: GCESettings()) else { return nil }
        if case .metadataServer = credentials.kind { return nil }
        let gcloud = gcloudProperties(resolver.gcloudConfigDirectory)
        let project = credentials.projectID ?? nonEmpty("GOOGLE_CLOUD_PROJECT") ?? nonEmpty("CLOUDSDK_CORE_PROJECT") ?? gcloud["core.project"]
        let zone = nonEmpty("CLOUDSDK_COMPUTE_ZONE") ?? gcloud["compute.zone"]
        // A key named by GOOGLE_APPLICATION_CREDENTIALS goes into the config (it may be unset later);
        // gcloud's application-default credentials are found again at run time.
        let named = nonEmpty("GOOGLE_APPLICATION_CREDENTIALS")
        return Discovered.GCE(credentials: named, project: project, zone: zone, source: credentials.source)
    }

    /// `section.key` → value of gcloud's active configuration (`configurations/config_<active>`).
    func gcloudProperties(_ directory: String) -> [String: String] {
        let active = nonEmpty("CLOUDSDK_ACTIVE_CONFIG_NAME")
            ?? (try? String(contentsOfFile: directory + "/active_config", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            ?? "default"
        guard let text = try? String(contentsOfFile: directory + "/configurations/config_" + active, encoding: .utf8) else { return [:] }
        var properties: [String: String] = [:]
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#"), !line.hasPrefix(";") {
                let key = line[..<equals].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                if !value.isEmpty { properties[section + "." + key] = value }
            }
        }
        return properties
    }

    // MARK: EC2

    func aws() -> Discovered.AWS? {
        let resolver = AWSCredentialResolver(environment: environment, homeDirectory: homeDirectory)
        let profile = nonEmpty("AWS_PROFILE")
        guard let credentials = try? resolver.credentials(for: EC2Settings(profile: profile)) else { return nil }
        let region = try? resolver.region(for: EC2Settings(profile: profile))
        return Discovered.AWS(profile: profile, region: region, source: credentials.source)
    }

    // MARK: OpenStack

    func openstack() -> Discovered.OpenStack? {
        let resolver = OpenStackCredentialResolver(environment: environment, homeDirectory: homeDirectory,
                                                   workingDirectory: workingDirectory)
        for path in resolver.cloudsFileCandidates {
            guard let file = try? OpenStackCloudsFile.load(path: path, displayPath: path), !file.cloudNames.isEmpty else { continue }
            let name = nonEmpty("OS_CLOUD").flatMap { file.clouds[$0] != nil ? $0 : nil } ?? file.cloudNames[0]
            return Discovered.OpenStack(cloud: name, region: file.clouds[name]?["region_name"]?.text, source: path)
        }
        if nonEmpty("OS_AUTH_URL") != nil {
            return Discovered.OpenStack(cloud: nil, region: nonEmpty("OS_REGION_NAME"), source: "the OS_* variables (an openrc file)")
        }
        return nil
    }

    func nonEmpty(_ name: String) -> String? {
        guard let value = environment[name], !value.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return value
    }
}
