import CloudcCore
import Foundation
import Testing
@testable import Config

@Suite("config.example.yaml")
struct ExampleConfigTests {
    let config: CloudcConfig

    init() throws {
        config = try ConfigLoader.load(path: Fixtures.examplePath, environment: [:], homeDirectory: Fixtures.home)
    }

    @Test func hasTheFiveTemplatesInFileOrder() {
        #expect(config.templateNames == ["local", "lab", "aws-demo", "gce", "uni"])
        #expect(Set(config.clusters.keys) == Set(config.templateNames))
    }

    @Test(arguments: ["local", "aws-demo", "gce", "uni"])
    func everyTemplateResolves(template: String) throws {
        let spec = try config.clusterSpec(template: template)
        #expect(spec.template == template)
        #expect(spec.login.user == "debian")
        #expect(spec.login.privateKey == "/home/alice/.ssh/id_ed25519")
        #expect(spec.login.publicKey == "/home/alice/.ssh/id_ed25519.pub")
        #expect(spec.setup?.playbook == "slurm")
        #expect(!spec.groups.isEmpty)
    }

    @Test func labIsOwnMachines() throws {
        let spec = try config.clusterSpec(template: "lab")
        guard case .ssh(let settings) = spec.cloud.settings else {
            Issue.record("lab is not provider ssh")
            return
        }
        #expect(settings.hosts.map(\.host) == ["gpu1", "gpu2", "gpu3"])
        #expect(settings.hosts[2] == OwnHost(host: "gpu3", address: "10.0.0.13", user: "alice", port: 2222,
                                             key: "/home/alice/.ssh/lab_ed25519"))
        #expect(settings.user == "researcher" && settings.key == nil && settings.jump == nil)
        #expect(spec.login.user == "researcher")
        // The group that names no hosts takes the ones no group names, in order.
        #expect(spec.groups.map(\.hosts) == [["gpu1"], ["gpu2", "gpu3"]])
        #expect(spec.groups.map(\.flavor) == ["host", "host"])
        #expect(spec.sharedHome == true)
        #expect(spec.setup?.playbook == "slurm")
    }

    @Test func localIsOneFrontendAndTwoContainers() throws {
        let spec = try config.clusterSpec(template: "local")
        #expect(spec.cloud.provider == .local)
        #expect(spec.cloud.settings == .local(LocalSettings(subnet: "10.77.0.0/24")))
        #expect(spec.groups == [
            NodeGroupSpec(name: "frontend", count: 1, flavor: "container"),
            NodeGroupSpec(name: "compute", count: 2, flavor: "container"),
        ])
        #expect(spec.image == "debian-12")
        #expect(config.clusters["local"]?.executor == .slurm)
    }

    @Test func awsDemo() throws {
        let spec = try config.clusterSpec(template: "aws-demo")
        #expect(spec.cloud.provider == .ec2)
        // Optional keys that expand to nothing are not given.
        #expect(spec.cloud.settings == .ec2(EC2Settings(region: "us-east-1")))
        #expect(spec.groups == [
            NodeGroupSpec(name: "frontend", count: 1, flavor: "t3.medium"),
            NodeGroupSpec(name: "compute", count: 2, flavor: "c5.xlarge"),
            NodeGroupSpec(name: "gpu", count: 0, flavor: "g4dn.xlarge", gpus: GPURequest(count: 1), spot: true, diskGB: 100),
        ])
        // Copied as it is, the example opens SSH to the caller's own address only, never to the world.
        #expect(spec.sshFrom == nil)
    }

    @Test func gce() throws {
        let spec = try config.clusterSpec(template: "gce")
        guard case .gce(let settings) = spec.cloud.settings else {
            Issue.record("not gce: \(spec.cloud.settings)")
            return
        }
        #expect(settings.zones == ["us-central1-a", "us-central1-b"])
        #expect(settings.project == "my-project")
        #expect(settings.credentials == nil)
        #expect(spec.image == "projects/debian-cloud/global/images/family/debian-12")
        #expect(spec.groups == [
            NodeGroupSpec(name: "frontend", count: 1, flavor: "e2-standard-4"),
            NodeGroupSpec(name: "compute", count: 4, min: 2, flavor: "n2-standard-8"),
            NodeGroupSpec(name: "gpu", count: 0, flavor: "n1-standard-8",
                          gpus: GPURequest(type: "nvidia-tesla-t4", count: 1), spot: true, diskGB: 100),
        ])
    }

    @Test func uni() throws {
        let spec = try config.clusterSpec(template: "uni")
        #expect(spec.cloud.settings == .openstack(OpenStackSettings(cloud: "mycloud", network: "private",
                                                                    floatingIPNetwork: "public")))
    }

    @Test func environmentOverridesDefaults() throws {
        let config = try ConfigLoader.load(path: Fixtures.examplePath,
                                           environment: ["AWS_REGION": "eu-west-1", "OS_PASSWORD": "pw",
                                                         "OS_USERNAME": "me"],
                                           homeDirectory: Fixtures.home)
        #expect(config.clouds["aws"]?.settings == .ec2(EC2Settings(region: "eu-west-1")))
        guard case .openstack(let settings) = config.clouds["uni"]?.settings else {
            Issue.record("uni is not openstack")
            return
        }
        #expect(settings.username == "me")
        #expect(settings.password == "pw")
    }

    /// Every key the loader accepts is documented in the example (as a key or in a comment).
    @Test func documentsEveryKey() throws {
        let text = try String(contentsOfFile: Fixtures.examplePath, encoding: .utf8)
        var keys = ConfigLoader.sections + CloudsSection.commonKeys + LoginsSection.keys + SetupsSection.keys
            + ClustersSection.keys + ClustersSection.groupKeys + ClustersSection.gpuKeys
        keys += CloudsSection.providerKeys.values.flatMap { $0 }
        for key in Set(keys) {
            #expect(text.contains("\(key):") || text.contains("  \(key) "), "config.example.yaml does not document '\(key)'")
        }
    }
}

/// The config cloudc uses when there is none, and the ones `cloudc init` writes.
@Suite struct StarterConfigTests {
    @Test func theBuiltinConfigIsOneLocalClusterOfThreeNodes() throws {
        let config = try StarterConfig.loadBuiltin(privateKey: "/home/me/.cloudc/id_ed25519", environment: [:], homeDirectory: "/home/me")
        let spec = try config.clusterSpec(template: "local")
        #expect(config.templateNames == ["local"])
        #expect(spec.cloud.provider == .local && spec.setup?.playbook == "slurm")
        #expect(spec.groups.map { "\($0.name) \($0.count)" } == ["frontend 1", "compute 2"])
        #expect(spec.login.user == "root" && spec.login.privateKey == "/home/me/.cloudc/id_ed25519")
    }

    /// Every choice of clouds, with nothing found and with everything found, loads as it is written.
    @Test(arguments: [[ProviderKind.local], [.gce], [.ec2], [.openstack], [.gce, .ec2, .openstack, .local]])
    func everyStarterLoads(_ providers: [ProviderKind]) throws {
        let found = Discovered(sshKey: "/home/me/.ssh/id_ed25519",
                               gce: .init(credentials: "/home/me/sa key.json", project: "p-1", zone: "europe-west4-a", source: "x"),
                               aws: .init(profile: "research", region: "eu-west-3", source: "y"),
                               openstack: .init(cloud: "uni: cloud", region: nil, source: "z"))
        for discovered in [Discovered(), found] {
            let text = StarterConfig.render(providers, found: discovered, privateKey: "~/.ssh/id_ed25519")
            let config = try ConfigLoader.parse(yaml: text, path: "config.yaml", environment: [:], homeDirectory: "/home/me")
            #expect(config.templateNames == providers.map { $0 == .ec2 ? "aws" : $0.rawValue })
            for name in config.templateNames { _ = try config.clusterSpec(template: name) }
            if discovered == found, case .gce(let settings)? = config.clouds["gce"]?.settings {
                #expect(settings.credentials == "/home/me/sa key.json" && settings.project == "p-1" && settings.zones == ["europe-west4-a"])
            }
            if discovered == found, case .openstack(let settings)? = config.clouds["openstack"]?.settings {
                #expect(settings.cloud == "uni: cloud")
            }
        }
    }
}
