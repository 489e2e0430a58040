import CloudcCore
import Foundation
@testable import Providers
import Testing
import TestSupport

/// `assign` (naming an instance after its node, for instances a cut-short launch left unnamed)
/// against the peers that answer as the clouds do: GCE's instances.setLabels with the label
/// fingerprint Google requires, Nova's PUT /servers/{id}/metadata/{key}, which Nova refuses while
/// the server is still in BUILD.
@Suite(.serialized, .needsPeer) struct AssignAgainstPeersTests {
    @Test func gceLabelsTheInstanceKeepingItsOtherLabels() async throws {
        try await GCEPeer.with { peer in
            let home = try TemporaryDirectory("assign-gce")
            let settings = GCESettings(project: peer.project, zones: ["us-central1-a"], credentials: peer.credentialsPath,
                                       tokenEndpoint: peer.tokenEndpoint)
            let credentials = try GoogleCredentialResolver(environment: [:], homeDirectory: home.path).credentials(for: settings)
            let client = GCEClient(baseURL: try #require(GCEClient.baseURL(endpoint: peer.computeEndpoint)), project: peer.project,
                                   auth: GoogleAuth(fetcher: GoogleTokenFetcher(credentials: credentials, transport: URLSessionTransport(timeout: 30),
                                                                                metadataTransport: URLSessionTransport(timeout: 3))),
                                   transport: URLSessionTransport(timeout: 150))
            let provider = GCEProvider(client: client, settings: settings, credentialsSource: "test")
            let access = AccessRequest(cluster: "demo", incarnation: "1a2b3c4d5e6f", sshFrom: "198.51.100.7/32",
                                       publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3lZ6b6T3Xo0mQm0Kc2hFQm7eN0cJ3c4pNcO0qX7sS x", loginUser: "debian")
            let launched = try await provider.launch(LaunchRequest(
                cluster: "demo", incarnation: "1a2b3c4d5e6f", group: NodeGroupSpec(name: "compute", count: 1, flavor: "e2-standard-4"),
                nodes: ["compute001"], token: "cloudc-1a2b3c4d5e6f-compute-00000000000000aa",
                image: "projects/debian-cloud/global/images/family/debian-12", access: access, resources: []))
            let id = try #require(launched.first?.id)

            try await provider.assign(node: "compute007", cluster: "demo", instanceID: id)
            let instance = try #require(try await peer.state().instances.first)
            #expect(instance.labels["cloudc-node"] == "compute007")
            #expect(instance.labels["cloudc-cluster"] == "demo", "other labels are kept: \(instance.labels)")
            #expect(try await provider.instances(cluster: "demo", incarnation: nil).first?.node == "compute007")

            // Google's check that assign relies on: a stale fingerprint is refused, not applied.
            let token = try await peer.accessToken()
            let name = id.split(separator: "/").last.map(String.init) ?? ""
            let stale = try await peer.compute("POST", "zones/us-central1-a/instances/\(name)/setLabels",
                                               json: ["labels": ["cloudc-node": "compute009"], "labelFingerprint": "42WmSpB8rSM="], token: token)
            #expect(stale.status == 412 && stale.text.contains("conditionNotMet"), "\(stale.text)")
            #expect(try await peer.state().instances.first?.labels["cloudc-node"] == "compute007")
        }
    }

    @Test func openStackNamesTheServerOnceItHasLeftBuild() async throws {
        // BUILD long enough that a loaded machine's second call still finds the server in it.
        try await OpenStackPeer.with(buildSeconds: 6.0) { peer in
            let home = try TemporaryDirectory("assign-openstack")
            let environment = ["OS_AUTH_URL": peer.authURL, "OS_USERNAME": peer.username, "OS_PASSWORD": peer.password,
                               "OS_PROJECT_NAME": peer.projectName, "OS_USER_DOMAIN_NAME": peer.userDomain,
                               "OS_PROJECT_DOMAIN_NAME": peer.projectDomain]
            let settings = OpenStackSettings()
            let auth = try OpenStackCredentialResolver(environment: environment, homeDirectory: home.path, workingDirectory: home.path)
                .resolve(settings, cloud: "uni")
            let client = OpenStackClient(auth: KeystoneSession(auth: auth, transport: URLSessionTransport(timeout: 30)),
                                         transport: URLSessionTransport(timeout: 60))
            let provider = OpenStackProvider(client: client, settings: settings, cloudName: "uni", credentialsSource: auth.source,
                                             poller: Poller(initialDelay: 0.2, maxDelay: 0.5, timeout: 30))
            let token = try await peer.token()
            let created = try await peer.api("compute", "POST", "/servers", json: ["server": [
                "name": "uni-compute001", "flavorRef": "2", "imageRef": "6a6c6e1b-5d1c-4d3c-9a59-3f0b6f1c2d12",
                "metadata": ["cloudc-cluster": "uni"]]], token: token)
            let id = try #require((created.json?["server"] as? [String: Any])?["id"] as? String, "\(created.text)")
            // Nova's own answer while it builds: 409.
            let early = try await peer.api("compute", "PUT", "/servers/\(id)/metadata/cloudc-node", json: ["meta": ["cloudc-node": "x"]], token: token)
            #expect(early.status == 409, "\(early.text)")

            try await provider.assign(node: "compute001", cluster: "uni", instanceID: id)
            let server = try #require(try await peer.state().server("uni-compute001"))
            #expect(server.status == "ACTIVE")
            #expect(server.metadata == ["cloudc-cluster": "uni", "cloudc-node": "compute001"])

            // The body's key must be the URI's, as Nova checks.
            let mismatch = try await peer.api("compute", "PUT", "/servers/\(id)/metadata/cloudc-node", json: ["meta": ["other": "x"]], token: token)
            #expect(mismatch.status == 400 && mismatch.text.contains("Request body and URI mismatch"), "\(mismatch.text)")
            let two = try await peer.api("compute", "PUT", "/servers/\(id)/metadata/a", json: ["meta": ["a": "1", "b": "2"]], token: token)
            #expect(two.status == 400 && two.text.contains("has too many properties"), "\(two.text)")
        }
    }
}
