import Foundation
import Testing
import TestSupport

/// A new user's first commands, typed into bash: no config at all, then `cloudc init`.
@Suite struct InitTests {
    @Test func withNoConfigTheBuiltinLocalTemplateIsThere() async throws {
        let desk = try Desk()
        let templates = try await desk.paste("cloudc list-templates")
        #expect(templates.status == 0, "\(templates.stderr)")
        #expect(templates.stdout == "TEMPLATE  CLOUD          GROUPS\nlocal     local (local)  1 frontend (container), 2 compute (container)\n")
        let gce = try await desk.paste("cloudc start gce")
        #expect(gce.status == 1)
        #expect(gce.stderr.contains("there is no config file") && gce.stderr.contains("fix: write a starter config for your clouds with: cloudc init gce"),
                "\(gce.stderr)")
        #expect(desk.read(".cloudc/config.yaml") == nil, "nothing is written by a failed start")
    }

    /// gcloud, AWS and OpenStack set up as their own tools leave them; init fills the config from them.
    @Test func initFillsTheConfigFromWhatIsOnTheMachine() async throws {
        let desk = try Desk()
        _ = try desk.write(".aws/credentials", "[research]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n")
        _ = try desk.write(".aws/config", "[profile research]\nregion = eu-west-3\n")
        _ = try desk.write(".config/gcloud/application_default_credentials.json",
                           #"{"type": "authorized_user", "client_id": "id.apps.googleusercontent.com", "client_secret": "s3cret-value", "refresh_token": "1//refresh-token-value"}"#)
        _ = try desk.write(".config/gcloud/active_config", "research\n")
        _ = try desk.write(".config/gcloud/configurations/config_research", "[core]\nproject = tensor-lab-4711\n\n[compute]\nzone = europe-west4-a\n")
        _ = try desk.write(".config/openstack/clouds.yaml", "clouds:\n  unicloud:\n    region_name: RegionOne\n    auth:\n      auth_url: https://keystone.example.org:5000/v3\n      password: hunter2-secret\n")
        try FileManager.default.createDirectory(atPath: desk.folder.path + "/.ssh", withIntermediateDirectories: true)
        let key = try makeSSHKey(in: desk.folder.path + "/.ssh")

        let initialised = try await desk.paste("AWS_PROFILE=research cloudc init gce aws openstack local")
        #expect(initialised.status == 0, "\(initialised.stderr)")
        let config = try #require(desk.read(".cloudc/config.yaml"))
        #expect(config.contains(#"project: "tensor-lab-4711""#) && config.contains("zones: [europe-west4-a]"), "\(config)")
        #expect(config.contains(#"region: "eu-west-3""#) && config.contains(#"profile: "research""#), "\(config)")
        #expect(config.contains(#"cloud: "unicloud""#), "\(config)")
        #expect(config.contains(#"private_key: "~/.ssh/id_ed25519""#), "the user's own key: \(config)")
        for secret in ["wJalrXUtnFEMI", "s3cret-value", "refresh-token-value", "hunter2-secret", "AKIDEXAMPLE"] {
            #expect(!config.contains(secret) && !initialised.stderr.contains(secret), "a secret reached the config or the output: \(secret)")
        }
        #expect(initialised.stderr.contains("aws: credentials from profile research"), "\(initialised.stderr)")
        #expect(FileManager.default.fileExists(atPath: key))
        var info = stat()
        #expect(stat(desk.folder.path + "/.cloudc/config.yaml", &info) == 0 && info.st_mode & 0o777 == 0o600)

        // cloudc reads what init wrote: every template is there, with the found values.
        let templates = try await desk.paste("cloudc list-templates")
        #expect(templates.status == 0, "\(templates.stderr)")
        for name in ["gce", "aws", "openstack", "local"] {
            #expect(templates.stdout.contains("\n\(name) "), "\(templates.stdout)")
        }

        // Never overwritten: a second init fails and leaves the file byte for byte.
        let again = try await desk.paste("cloudc init gce")
        #expect(again.status == 2 && again.stderr.contains("exists already; cloudc init never overwrites"), "\(again.stderr)")
        #expect(desk.read(".cloudc/config.yaml") == config)
        let elsewhere = try await desk.paste("cloudc init -c other.yaml aws >/dev/null && grep -c 'provider: ec2' other.yaml")
        #expect(elsewhere.status == 0 && elsewhere.stdout == "1\n", "\(elsewhere.stdout)\(elsewhere.stderr)")
    }

    /// Nothing on the machine: a key is made in $CLOUDC_HOME, and the config still loads.
    @Test func initOnABareMachineMakesAKey() async throws {
        let desk = try Desk()
        // What a run killed while ssh-keygen wrote would leave: a half-made key under its temporary name.
        _ = try desk.write(".cloudc/id_ed25519.new", "half a key")
        let initialised = try await desk.paste("cloudc init aws gce")
        #expect(initialised.status == 0, "\(initialised.stderr)")
        #expect(initialised.stderr.contains("making one for cloudc at \(desk.folder.path)/.cloudc/id_ed25519"), "\(initialised.stderr)")
        #expect(initialised.stderr.contains("aws: no credentials found") && initialised.stderr.contains("gce: no credentials found"))
        let config = try #require(desk.read(".cloudc/config.yaml"))
        #expect(config.contains(#"private_key: "~/.cloudc/id_ed25519""#) && config.contains("TODO"), "\(config)")
        #expect(desk.read(".cloudc/id_ed25519")?.hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----") == true)
        #expect(desk.read(".cloudc/id_ed25519.pub")?.hasPrefix("ssh-ed25519 ") == true)
        #expect(desk.read(".cloudc/id_ed25519.new") == nil && desk.read(".cloudc/id_ed25519.new.pub") == nil)
        let templates = try await desk.paste("cloudc list-templates")
        #expect(templates.status == 0 && templates.stdout.hasPrefix("TEMPLATE  CLOUD      GROUPS\naws "), "\(templates.stdout)\(templates.stderr)")
        let unknown = try await desk.paste("cloudc init -c x.yaml azure")
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown cloud 'azure'"), "\(unknown.stderr)")
    }
}
