import Foundation
import Testing
import TestSupport

/// A minimal instances.insert body as the Compute API documents it.
func instanceBody(_ name: String, zone: String = "us-central1-a", machineType: String = "e2-standard-4",
                  labels: [String: String] = ["cloudc-cluster": "peer-test"], externalIP: Bool = true,
                  autoDelete: Bool? = true) -> [String: Any] {
    var disk: [String: Any] = [
        "boot": true,
        "initializeParams": ["sourceImage": "projects/debian-cloud/global/images/family/debian-12", "diskSizeGb": "20"],
    ]
    if let autoDelete { disk["autoDelete"] = autoDelete }
    var nic: [String: Any] = ["network": "global/networks/default"]
    if externalIP { nic["accessConfigs"] = [["type": "ONE_TO_ONE_NAT", "name": "External NAT"]] }
    return [
        "name": name,
        "machineType": "zones/\(zone)/machineTypes/\(machineType)",
        "disks": [disk],
        "networkInterfaces": [nic],
        "labels": labels,
    ]
}

extension GCEPeer {
    /// Inserts an instance and returns its Operation's name (the insert must be accepted).
    func insert(_ body: [String: Any], zone: String = "us-central1-a", requestID: String? = nil,
                token: String) async throws -> String {
        let query = requestID.map { "?requestId=\($0)" } ?? ""
        let response = try await compute("POST", "zones/\(zone)/instances\(query)", json: body, token: token)
        try #require(response.status == 200, "insert refused: \(response.text)")
        return try #require(response.json?["name"] as? String)
    }

    /// operations.wait on a zonal operation, until it is DONE.
    func waitDone(_ operation: String, zone: String = "us-central1-a", token: String) async throws -> [String: Any] {
        for _ in 0..<20 {
            let response = try await compute("POST", "zones/\(zone)/operations/\(operation)/wait", token: token)
            try #require(response.status == 200, "wait failed: \(response.text)")
            let json = try #require(response.json)
            if json["status"] as? String == "DONE" { return json }
        }
        throw PeerError("operation \(operation) never finished")
    }
}
