import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `moto_server` (the EC2 emulator from PyPI's `moto[server]`) on 127.0.0.1, with signature
/// checking, IAM authorisation and AMI / instance-type / key-pair validation on.
public final class MotoServer: Sendable {
    public let endpoint: String
    public let accessKeyID: String
    public let secretAccessKey: String
    let daemon: Daemon
    let hostKeysDirectory: String

    /// Starts a fresh server, runs `body`, and always stops the server by PID.
    /// `denied`: EC2 actions the test user's IAM policy denies (`ec2:GetConsoleOutput`).
    public static func with<T>(denied: [String] = [], _ body: (MotoServer) async throws -> T) async throws -> T {
        let server = try await MotoServer(denied: denied)
        defer { server.stop() }
        return try await body(server)
    }

    public init(denied: [String] = []) async throws {
        guard Run.which("moto_server") != nil, let python = Run.which("python3") else {
            throw PeerError("moto_server is not installed: pip install 'moto[server]==5.2.1' (the CI script does this)")
        }
        let port = try freeLocalPort()
        let hostKeysDirectory = FileManager.default.temporaryDirectory.path + "/moto-\(port)-host-keys-\(UUID().uuidString)"
        var environment = ProcessInfo.processInfo.environment
        environment["MOTO_PEER_HOST_KEYS"] = hostKeysDirectory
        environment["MOTO_ENABLE_AMI_VALIDATION"] = "true"
        environment["MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION"] = "true"
        environment["MOTO_ENABLE_KEYPAIR_VALIDATION"] = "true"
        environment["PYTHONUNBUFFERED"] = "1"
        let log = FileManager.default.temporaryDirectory.path + "/moto-\(port).log"
        // moto_server, answering GetConsoleOutput with each instance's own cloud-init console.
        let daemon = try Daemon(python, [Paths.peers + "/moto_peer.py", "-H", "127.0.0.1", "-p", String(port)],
                                environment: environment, logPath: log)
        let endpoint = "http://127.0.0.1:\(port)"
        // Wait until it answers.
        // (Importing moto takes seconds, many more while the whole suite runs at once.)
        _ = try await daemon.waitUntilReady("moto_server on port \(port)", seconds: 90, interval: 0.1) {
            URL(string: endpoint + "/moto-api/data.json").flatMap { try? Data(contentsOf: $0) }
        }
        let setup = try Run.program("/usr/bin/env", ["python3", Paths.peers + "/moto_setup.py", endpoint] + denied)
        guard setup.status == 0,
              let data = setup.stdout.data(using: .utf8),
              let key = try? JSONSerialization.jsonObject(with: data) as? [String: String],
              let id = key["access_key_id"], let secret = key["secret_access_key"] else {
            daemon.stop()
            throw PeerError("could not create a moto IAM user: \(setup.stderr.suffix(2000))")
        }
        self.daemon = daemon
        self.hostKeysDirectory = hostKeysDirectory
        self.endpoint = endpoint
        self.accessKeyID = id
        self.secretAccessKey = secret
    }

    public func stop() {
        daemon.stop()
        try? FileManager.default.removeItem(atPath: hostKeysDirectory)
    }

    /// The SSH host keys (`type base64`) the peer gave an instance when its console was first read.
    public func hostKeys(of instanceID: String) -> [String] {
        guard let text = try? String(contentsOfFile: hostKeysDirectory + "/" + instanceID, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    /// What EC2 holds for a cluster, read with boto3 (not with cloudc's own client).
    /// Terminates an instance through boto3, as a user in the console would, behind cloudc's back.
    public func terminateBehindCloudcsBack(_ instanceID: String) throws {
        let script = "import boto3,sys; boto3.client('ec2', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], "
            + "aws_secret_access_key=sys.argv[3]).terminate_instances(InstanceIds=[sys.argv[4]])"
        let run = try Run.program("/usr/bin/env", ["python3", "-c", script, endpoint, accessKeyID, secretAccessKey, instanceID])
        guard run.status == 0 else { throw PeerError("terminating \(instanceID) failed: \(run.stderr.suffix(2000))") }
    }

    public func inventory(cluster: String) throws -> EC2Inventory {
        let run = try Run.program("/usr/bin/env", ["python3", Paths.peers + "/ec2_inventory.py", endpoint, accessKeyID, secretAccessKey, cluster])
        guard run.status == 0, let data = run.stdout.data(using: .utf8) else {
            throw PeerError("ec2_inventory.py failed: \(run.stderr.suffix(2000))")
        }
        return try JSONDecoder().decode(EC2Inventory.self, from: data)
    }
}

extension MotoServer {
    /// How many EC2 (and IAM) actions that change something (not Describe*, Get*, List*) moto has
    /// received, refused ones too; moto_setup.py's own count from the start.
    public func mutatingRequests() async throws -> (count: Int, actions: [String: Int]) {
        let url = try requireURL(endpoint + "/_peer/requests")
        let (data, _) = try await URLSession.shared.data(from: url)
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return (json["mutating"] as? Int ?? -1, json["actions"] as? [String: Int] ?? [:])
    }
}

public struct EC2Inventory: Decodable, Sendable {
    public var live_instances: [String]
    public var all_instances: Int
    public var key_pairs: [String]
    public var security_groups: [String]
    public var instance_tags: [String: [String: String]]
    public var instance_types: [String: String]
    public var addresses: [String: String]
    public var private_ips: [String: String?]
    public var public_ips: [String: String?]
    public var ssh_cidrs: [String]
    public var volumes: [String]
}

public struct PeerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

private func requireURL(_ text: String) throws -> URL {
    guard let url = URL(string: text) else { throw PeerError("not a URL: \(text)") }
    return url
}
