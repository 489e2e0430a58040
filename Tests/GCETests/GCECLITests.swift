import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc start` on a gce cloud, as a user runs it, up to the first call that needs Google.
/// (Whole clusters against a local Compute peer come with that peer.)
@Suite(.needsPeer) struct GCECLITests {
    static func config(credentials: String? = nil, tokenEndpoint: String? = nil) -> String {
        """
        clouds:
          g:
            provider: gce
            project: proj-1
            zones: [us-central1-a]
            endpoint: http://127.0.0.1:9
        \(credentials.map { "    credentials: \($0)\n" } ?? "")\(tokenEndpoint.map { "    token_endpoint: \($0)\n" } ?? "")\
        logins:
          default:
            user: debian
            private_key: $HOME/id_ed25519
        clusters:
          g:
            cloud: g
            image: projects/debian-cloud/global/images/family/debian-12
            ssh_from: 198.51.100.0/24
            groups:
              frontend: {count: 1, flavor: e2-standard-4}
        """
    }

    @Test func startWithoutAnyCredentialsSaysWhereItLookedAndCreatesNothing() async throws {
        let user = try UserMachine(moto: nil, config: Self.config(), extraEnvironment: ["GCE_METADATA_HOST": "127.0.0.1:9"])
        let result = await user.cloudc("start", "g")
        #expect(result.status != 0)
        #expect(result.stderr.contains("no Google credentials found"), "\(result.stderr)")
        #expect(result.stderr.contains("GOOGLE_APPLICATION_CREDENTIALS: not set"))
        #expect(result.stderr.contains("application_default_credentials.json: no such file"))
        #expect(result.stderr.contains("gcloud auth application-default login"))
        #expect(user.stateFiles().isEmpty)
    }

    @Test func aServiceAccountKeyIsSignedAndSentToTheTokenEndpoint() async throws {
        // openssl makes the key as Google's JSON keys carry it (PKCS#8 PEM).
        let openssl = try #require(Run.which("openssl"))
        let pem = try Run.program(openssl, ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]).stdout
        let key: [String: String] = ["type": "service_account", "project_id": "proj-1", "private_key_id": "k1", "private_key": pem,
                                     "client_email": "sa@proj-1.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"]
        let user = try UserMachine(moto: nil, config: Self.config(credentials: "$HOME/sa.json", tokenEndpoint: "http://127.0.0.1:9/token"))
        _ = try user.home.write("sa.json", String(decoding: try JSONSerialization.data(withJSONObject: key), as: UTF8.self))
        let result = await user.cloudc("start", "g")
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot reach the token endpoint http://127.0.0.1:9/token"), "\(result.stderr)")
        #expect(!result.stderr.contains("PRIVATE KEY"))
        #expect(user.stateFiles().isEmpty)
    }
}
