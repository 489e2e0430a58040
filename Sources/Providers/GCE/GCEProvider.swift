import CloudcCore
import Foundation

/// Google Compute Engine through the Compute v1 REST API.
///
/// Every instance carries the labels `cloudc-cluster`, `cloudc-node`, `cloudc-group`,
/// `cloudc-incarnation` and `cloudc-launch` and the cluster's network tag, so a cluster can
/// always be found again from the cloud alone. An instance's id is `<zone>/<name>`.
public struct GCEProvider: CloudProvider {
    public let client: GCEClient
    let settings: GCESettings
    let credentialsSource: String
    let progress: any ProgressSink
    /// Inserts (and deletes) of one launch in flight at once.
    let concurrency: Int
    /// New tries of one node in one zone when Google answers with an earlier try's failed operation.
    static let maxTries = 8

    public init(client: GCEClient, settings: GCESettings, credentialsSource: String,
                progress: any ProgressSink = SilentProgress(), concurrency: Int = 8) {
        self.client = client; self.settings = settings; self.credentialsSource = credentialsSource
        self.progress = progress; self.concurrency = max(1, concurrency)
    }

    var project: String { client.project }
    var zones: [String] { settings.zones }

    /// Runs Compute calls, turning a failure into one clear line for the user.
    func api<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw GCEErrorMapper.userError(error, credentialsSource: credentialsSource, project: project)
        }
    }

    /// Like `api`, but nil for a 404.
    func apiIfExists<T: Sendable>(_ body: () async throws -> T) async throws -> T? {
        do {
            return try await body()
        } catch let error as GCEAPIError where error.status == 404 {
            return nil
        } catch {
            throw GCEErrorMapper.userError(error, credentialsSource: credentialsSource, project: project)
        }
    }

    // MARK: host keys

    public var traits: ProviderTraits { ProviderTraits(hostKeySource: "guest attributes") }

    /// The host keys each VM's guest agent published as guest attributes (`hostkeys/<type>` =
    /// base64 key, as gcloud reads them). A VM whose agent has not written them yet is left out.
    public func hostKeys(nodes: [String: String]) async throws -> [String: [String]] {
        var found: [String: [String]] = [:]
        for (node, id) in nodes {
            let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            guard let answer = try await apiIfExists({ try await client.guestAttributes(parts[1], zone: parts[0], queryPath: "hostkeys/") }) else {
                continue
            }
            let keys = (answer["queryValue"]?["items"]?.items ?? []).compactMap { item -> String? in
                guard item["namespace"]?.string == "hostkeys", let type = item["key"]?.string, let key = item["value"]?.string,
                      type.hasPrefix("ssh-") || type.hasPrefix("ecdsa-"), !type.contains(" "),
                      let decoded = Data(base64Encoded: key), !decoded.isEmpty else { return nil }
                return "\(type) \(key)"
            }
            if !keys.isEmpty { found[node] = keys.sorted() }
        }
        return found
    }

    // MARK: parsing

    static func instance(from json: JSONValue) -> CloudInstance? {
        guard let name = json["name"]?.string, let zoneURL = json["zone"]?.string else { return nil }
        let zone = lastSegment(zoneURL)
        let labels = json["labels"]
        let interface = json["networkInterfaces"]?[0]
        return CloudInstance(
            id: "\(zone)/\(name)", node: labels?["cloudc-node"]?.string, group: labels?["cloudc-group"]?.string,
            launchToken: labels?["cloudc-launch"]?.string, incarnation: labels?["cloudc-incarnation"]?.string,
            state: state(json["status"]?.string ?? ""), privateIP: interface?["networkIP"]?.string,
            publicIP: interface?["accessConfigs"]?[0]?["natIP"]?.string,
            flavor: json["machineType"]?.string.map(lastSegment), zone: zone,
            fault: json["statusMessage"]?.string)
    }

    static func state(_ status: String) -> InstanceState {
        switch status {
        case "PROVISIONING", "STAGING", "REPAIRING": return .pending
        case "RUNNING": return .running
        case "STOPPING", "SUSPENDING", "PENDING_STOP": return .stopping
        case "TERMINATED", "SUSPENDED", "STOPPED": return .stopped
        default: return .unknown
        }
    }
}
