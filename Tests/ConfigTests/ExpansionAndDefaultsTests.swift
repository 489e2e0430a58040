import CloudcCore
import Foundation
import Testing
@testable import Config

@Suite("expansion and defaults")
struct ExpansionAndDefaultsTests {
    static let cluster = Fixtures.lines(
        "clusters:",
        "  gce: {cloud: gce, image: debian-12, groups: {compute: {count: 1, flavor: f}}}")

    @Test func tildeAndPublicKeyDefault() throws {
        let config = try Fixtures.parse(Fixtures.preamble)
        #expect(config.logins["default"] == LoginSpec(name: "default", user: "debian",
                                                      privateKey: "/home/alice/.ssh/id_ed25519",
                                                      publicKey: "/home/alice/.ssh/id_ed25519.pub"))
    }

    @Test func explicitPublicKeyAndRelativePaths() throws {
        let config = try Fixtures.parse(Fixtures.lines(
            "logins:",
            "  me: {user: u, private_key: keys/id, public_key: ~/other.pub}",
            "clouds:",
            "  gce: {provider: gce, zone: z, credentials: ./sa.json}"))
        #expect(config.logins["me"]?.privateKey == "/tmp/cloudc-test/keys/id")
        #expect(config.logins["me"]?.publicKey == "/home/alice/other.pub")
        guard case .gce(let settings) = config.clouds["gce"]?.settings else {
            Issue.record("not gce")
            return
        }
        #expect(settings.credentials == "/tmp/cloudc-test/sa.json")
    }

    @Test func tildeUserIsAnError() throws {
        let error = try #require(Fixtures.error("logins:\n  me: {user: u, private_key: ~bob/id}\n"))
        #expect(error.message == "\(Fixtures.path):2:30: logins.me.private_key: '~bob/id' starts with '~user', which cloudc does not expand")
    }

    @Test(arguments: [
        ([String: String](), "fallback"),
        (["ZONE": "europe-west1-b"], "europe-west1-b"),
        (["ZONE": ""], "fallback"),
    ])
    func defaultValue(environment: [String: String], zone: String) throws {
        let config = try Fixtures.parse("clouds: {gce: {provider: gce, zone: '${ZONE:-fallback}'}}\n",
                                        environment: environment)
        #expect(config.clouds["gce"]?.settings == .gce(GCESettings(zones: [zone])))
    }

    @Test func variablesInsideText() throws {
        let config = try Fixtures.parse("clouds: {gce: {provider: gce, zone: 'a-${X}-${Y:-y}-$HOME-$${Z}'}}\n",
                                        environment: ["X": "x"])
        #expect(config.clouds["gce"]?.settings == .gce(GCESettings(zones: ["a-x-y-$HOME-${Z}"])))
    }

    @Test func zoneBecomesAOneElementList() throws {
        let config = try Fixtures.parse(Fixtures.preamble)
        #expect(config.clouds["gce"] == CloudSpec(name: "gce", provider: .gce,
                                                  settings: .gce(GCESettings(zones: ["us-central1-a"]))))
    }

    @Test func zonesKeepTheirOrder() throws {
        let config = try Fixtures.parse("clouds: {gce: {provider: gce, zones: [b, a, c], endpoint: 'http://127.0.0.1:9000'}}\n")
        #expect(config.clouds["gce"] == CloudSpec(name: "gce", provider: .gce, endpoint: "http://127.0.0.1:9000",
                                                  settings: .gce(GCESettings(zones: ["b", "a", "c"]))))
    }

    @Test func gceNeedsAZone() throws {
        let error = try #require(Fixtures.error("clouds:\n  gce:\n    provider: gce\n"))
        #expect(error.message.hasPrefix("\(Fixtures.path):3:5: clouds.gce.zones: missing; a gce cloud needs at least one zone"))
    }

    @Test func openStackInterfaceAndAvailabilityZone() throws {
        let config = try Fixtures.parse("clouds: {uni: {provider: openstack, interface: internal, availability_zone: nova}}\n")
        #expect(config.clouds["uni"]?.settings == .openstack(OpenStackSettings(interface: "internal", availabilityZone: "nova")))
    }

    @Test func optionalValueExpandingToNothingIsNotGiven() throws {
        let config = try Fixtures.parse("clouds: {aws: {provider: ec2, region: '${R:-}', profile: ~}}\n")
        #expect(config.clouds["aws"]?.settings == .ec2(EC2Settings()))
    }

    @Test func loginDefaultsToDefault() throws {
        let config = try Fixtures.parse(Fixtures.preamble + Self.cluster)
        #expect(config.clusters["gce"]?.login == "default")
        #expect(try config.clusterSpec(template: "gce").login.name == "default")
    }

    @Test func localDefaults() throws {
        let config = try Fixtures.parse(Fixtures.lines(
            "clouds: {here: {provider: local}}",
            "logins: {default: {user: debian, private_key: /k}}",
            "clusters:",
            "  box: {cloud: here, groups: {frontend: {count: 1}, compute: {count: 3, min: 1, flavor: big}}}"))
        let spec = try config.clusterSpec(template: "box")
        #expect(spec.cloud.settings == .local(LocalSettings()))
        #expect(spec.image == "debian-12")
        #expect(spec.login.publicKey == "/k.pub")
        #expect(spec.setup == nil)
        #expect(spec.sshFrom == nil)
        #expect(spec.groups == [NodeGroupSpec(name: "frontend", count: 1, flavor: "container"),
                                NodeGroupSpec(name: "compute", count: 3, min: 1, flavor: "big")])
    }

    @Test func localFoldersAndMirror() throws {
        let config = try Fixtures.parse(Fixtures.lines(
            "clouds:",
            "  here: {provider: local, root: ~/nodes, image_dir: images, mirror: 'http://mirror.example.org/debian'}"))
        #expect(config.clouds["here"]?.settings == .local(LocalSettings(
            root: "/home/alice/nodes", imageDir: "/tmp/cloudc-test/images", mirror: "http://mirror.example.org/debian")))
        let error = try #require(Fixtures.error(Fixtures.lines(
            "clouds:",
            "  here: {provider: local, mirror: deb.debian.org}")))
        #expect(error.message.contains("clouds.here.mirror"))
    }

    @Test func setupVarsBecomeText() throws {
        let config = try Fixtures.parse(Fixtures.lines(
            "setups:",
            "  slurm:",
            "    playbook: slurm",
            "    vars: {cuda: true, nodes: 4, ratio: 0.5, name: '${N:-n}', empty: }"))
        #expect(config.setups["slurm"] == SetupSpec(name: "slurm", playbook: "slurm",
                                                     vars: ["cuda": "true", "nodes": "4", "ratio": "0.5",
                                                            "name": "n", "empty": ""]))
    }

    @Test func setupVarsMustBeScalars() throws {
        let error = try #require(Fixtures.error("setups:\n  s: {playbook: p, vars: {list: [1, 2]}}\n"))
        #expect(error.message == "\(Fixtures.path):2:33: setups.s.vars.list: expected a single value, found a list")
    }

    @Test func templatesAndGroupsKeepFileOrder() throws {
        let config = try Fixtures.parse(Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  zeta: {cloud: gce, image: i, groups: {z: {count: 1, flavor: f}, a: {count: 0, flavor: f}}}",
            "  alpha: {cloud: gce, image: i, ssh_from: '2001:db8::/32', executor: local, groups: {m: {count: 1, flavor: f}}}"))
        #expect(config.templateNames == ["zeta", "alpha"])
        #expect(config.clusters["zeta"]?.groups.map(\.name) == ["z", "a"])
        #expect(config.clusters["alpha"] == ClusterTemplate(
            name: "alpha", cloud: "gce", login: "default", image: "i", sshFrom: "2001:db8::/32", executor: .local,
            groups: [NodeGroupSpec(name: "m", count: 1, flavor: "f")]))
    }

    @Test func unknownTemplateSuggestsTheClosest() throws {
        let config = try Fixtures.parse(Fixtures.preamble + Self.cluster)
        #expect(throws: CloudcError(.notFound, "no cluster template named 'gcp' in \(Fixtures.path); did you mean 'gce'?",
                                    fix: "use 'gce', or add 'gcp' under 'clusters:'")) {
            try config.clusterSpec(template: "gcp")
        }
        #expect(throws: CloudcError(.notFound, "no cluster template named 'other' in \(Fixtures.path)",
                                    fix: "use one of: gce, or add 'other' under 'clusters:'")) {
            try config.clusterSpec(template: "other")
        }
    }

    @Test func emptyFileIsAnEmptyConfig() throws {
        let config = try Fixtures.parse("# nothing yet\n")
        #expect(config.templateNames.isEmpty)
        #expect(config.clouds.isEmpty)
    }
}

/// `executor:` reaches the ClusterSpec that start records, and specs recorded before it existed still decode.
@Suite struct ExecutorKeyTests {
    @Test func theTemplatesExecutorReachesTheSpec() throws {
        let config = try Fixtures.parse(Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  here: {cloud: gce, image: i, executor: local, groups: {m: {count: 1, flavor: f}}}",
            "  there: {cloud: gce, image: i, groups: {m: {count: 1, flavor: f}}}"))
        #expect(try config.clusterSpec(template: "here").executor == .local)
        #expect(try config.clusterSpec(template: "there").executor == nil)
    }

    @Test func aSpecWithoutExecutorDecodesAsNil() throws {
        let config = try Fixtures.parse(Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  here: {cloud: gce, image: i, executor: local, groups: {m: {count: 1, flavor: f}}}"))
        let spec = try config.clusterSpec(template: "here")
        let encoded = try JSONEncoder().encode(spec)
        var object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        #expect(object["executor"] as? String == "local")
        #expect(try JSONDecoder().decode(ClusterSpec.self, from: encoded) == spec)
        // A state file written before `executor` existed has no such key.
        object.removeValue(forKey: "executor")
        let old = try JSONSerialization.data(withJSONObject: object)
        var expected = spec
        expected.executor = nil
        #expect(try JSONDecoder().decode(ClusterSpec.self, from: old) == expected)
    }
}
