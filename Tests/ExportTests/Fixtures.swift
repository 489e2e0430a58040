import CloudcCore
import Export
import Foundation

/// Clusters as plain values on a cloud: reached over its private network (private addresses only),
/// or over the internet (every node with a public address, as groups with `public_ip: true` have;
/// only the frontend's is used), with a node not running.
enum Fixtures {
    static func spec(user: String = "debian", reach: NetworkReach? = nil) -> ClusterSpec {
        ClusterSpec(
            template: "lab", cloud: CloudSpec(name: "aws", provider: .ec2, settings: .ec2(EC2Settings(region: "us-east-1")), reach: reach),
            login: LoginSpec(name: "default", user: user, privateKey: "~/.ssh/id_ed25519", publicKey: "~/.ssh/id_ed25519.pub"),
            setup: SetupSpec(name: "slurm", playbook: "slurm"), image: "ami-0123456789abcdef0",
            groups: [NodeGroupSpec(name: "frontend", count: 1, flavor: "t3.medium"),
                     NodeGroupSpec(name: "compute", count: 2, min: 1, flavor: "c5.xlarge", diskGB: 50),
                     NodeGroupSpec(name: "gpu-big", count: 1, flavor: "g4dn.xlarge", gpus: GPURequest(count: 1), spot: true)])
    }

    static func state(publicAddresses: Bool, user: String = "debian") -> ClusterState {
        // Without public addresses this machine reaches the cloud's private network (`reach: private`).
        var state = ClusterState(name: "lab", incarnation: "0123456789ab",
                                 spec: spec(user: user, reach: publicAddresses ? nil : .privateNetwork),
                                 now: Date(timeIntervalSince1970: 1_760_000_000))
        state.phase = .running
        func pub(_ last: Int) -> String? { publicAddresses ? "203.0.113.\(last)" : nil }
        // Out of order on purpose: exports order nodes by group, then name.
        state.nodes = [
            NodeRecord(name: "compute002", group: "compute", instanceID: "i-3", privateIP: "10.0.0.4", publicIP: pub(14),
                       state: .running, flavor: "c5.xlarge", zone: "us-east-1a"),
            NodeRecord(name: "gpu-big001", group: "gpu-big", instanceID: "i-4", state: .pending, flavor: "g4dn.xlarge"),
            NodeRecord(name: "frontend001", group: "frontend", instanceID: "i-1", privateIP: "10.0.0.2", publicIP: pub(12),
                       state: .running, flavor: "t3.medium", zone: "us-east-1a"),
            NodeRecord(name: "compute001", group: "compute", instanceID: "i-2", privateIP: "10.0.0.3", publicIP: pub(13),
                       state: .running, flavor: "c5.xlarge", zone: "us-east-1a"),
        ]
        state.setupCompletedAt = Date(timeIntervalSince1970: 1_760_000_300)
        return state
    }

    /// The fixture's values are all valid, so the checks in Handoff's init pass (a test would fail at once if not).
    static func handoff(publicAddresses: Bool, user: String = "debian", home: String = "/home/me") -> Handoff {
        // swiftlint:disable:next force_try
        try! Handoff(state: state(publicAddresses: publicAddresses, user: user), privateKey: home + "/.ssh/id_ed25519",
                publicKey: home + "/.ssh/id_ed25519.pub", knownHosts: home + "/.cloudc/clusters/lab.known_hosts",
                stateFile: home + "/.cloudc/clusters/lab.json")
    }

    /// `handoff` made again with a changed state or key (its values are checked once, when made).
    static func remade(_ handoff: Handoff, privateKey: String? = nil, _ change: (inout ClusterState) -> Void = { _ in }) -> Handoff {
        var state = handoff.state
        change(&state)
        // swiftlint:disable:next force_try
        return try! Handoff(state: state, privateKey: privateKey ?? handoff.privateKey, publicKey: handoff.publicKey,
                            knownHosts: handoff.knownHosts, stateFile: handoff.stateFile)
    }
}
