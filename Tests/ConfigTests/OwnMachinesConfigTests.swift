import CloudcCore
import Foundation
import Testing
@testable import Config

/// `provider: ssh`: machines listed by name or address with their own overrides, groups that
/// take them, and what is refused when the config is read (before any machine is touched).
@Suite struct OwnMachinesConfigTests {
    static let cloud = Fixtures.lines(
        "clouds:",
        "  lab:",
        "    provider: ssh",
        "    user: me",
        "    hosts:",
        "      - gpu1",
        "      - gpu2",
        "      - {host: gpu3, address: 10.0.0.13, user: alice, port: 2222, key: keys/lab}",
        "      - 10.0.0.14",
        "    jump: me@bastion.example.org:2200")

    @Test func hostsOverridesAndGroupPools() throws {
        let config = try Fixtures.parse(Self.cloud + Fixtures.lines(
            "clusters:",
            "  lab:",
            "    cloud: lab",
            "    setup: slurm",
            "    shared_home: true",
            "    groups: {frontend: {count: 1, hosts: [gpu1]}, gpu: {count: 1, hosts: [gpu3, gpu2]}, cpu: {count: 0}}",
            "setups:",
            "  slurm: {playbook: slurm}"))
        let spec = try config.clusterSpec(template: "lab")
        guard case .ssh(let settings) = spec.cloud.settings else {
            Issue.record("not an ssh cloud")
            return
        }
        #expect(settings.hosts.map(\.host) == ["gpu1", "gpu2", "gpu3", "10.0.0.14"])
        // A relative key is taken from the config file's folder, as every path of the config.
        #expect(settings.hosts[2] == OwnHost(host: "gpu3", address: "10.0.0.13", user: "alice", port: 2222,
                                             key: (Fixtures.path as NSString).deletingLastPathComponent + "/keys/lab"))
        #expect(settings.jump == "me@bastion.example.org:2200")
        // No login section: the cloud's user; no image, no flavor needed.
        #expect(spec.login.user == "me")
        #expect(spec.groups.map(\.hosts) == [["gpu1"], ["gpu3", "gpu2"], ["10.0.0.14"]])
        #expect(spec.groups.map(\.flavor) == ["host", "host", "host"])
    }

    /// Each refusal points at the line and says how to fix it.
    @Test(arguments: [
        (Fixtures.lines("    groups: {frontend: {count: 1, hosts: [gpu9]}}"),
         "names host 'gpu9', which cloud lab does not list; did you mean 'gpu1'?", "add it to clouds.lab.hosts"),
        (Fixtures.lines("    groups: {frontend: {count: 1, hosts: [gpu1]}, compute: {count: 1, hosts: [gpu1]}}"),
         "host 'gpu1' is named by groups frontend and compute", "name each machine in one group only"),
        (Fixtures.lines("    groups: {frontend: {count: 1, hosts: [gpu1]}, compute: {count: 4}}"),
         "group compute starts with 4 node(s), but has only the 3 host(s) of cloud lab that no group names", "lower count to 3"),
        (Fixtures.lines("    groups: {frontend: {count: 1, public_ip: true}}"),
         "'public_ip' is for clouds that make machines", "remove 'public_ip:'"),
        (Fixtures.lines("    login: default", "    groups: {frontend: {count: 1}}"),
         "an ssh cloud's machines are logged into as the cloud says", "give 'user:' and 'key:' on cloud lab"),
    ])
    func refusedWithAFix(groups: String, message: String, fix: String) throws {
        let error = try #require(Fixtures.error(Self.cloud + Fixtures.lines(
            "logins:",
            "  default: {user: debian, private_key: ~/.ssh/id_ed25519}",
            "clusters:",
            "  lab:",
            "    cloud: lab",
            "    shared_home: true") + groups))
        #expect(error.message.contains(message), "\(error.message)")
        #expect(error.message.contains(Fixtures.path + ":"), "the error names the file and line: \(error.message)")
        #expect(error.fix?.contains(fix) == true, "\(error.fix ?? "")")
    }

    @Test func aClusterOnOwnMachinesMustShareHomeItself() throws {
        let error = try #require(Fixtures.error(Self.cloud + Fixtures.lines(
            "clusters:",
            "  lab: {cloud: lab, groups: {frontend: {count: 1}}}")))
        #expect(error.message.contains("cloudc never mounts a /home over theirs"), "\(error.message)")
        #expect(error.fix?.contains("shared_home: true") == true)
    }

    @Test(arguments: [
        ("      - gpu1\n      - gpu1\n", "host 'gpu1' is listed twice"),
        ("      - {host: gpu1, port: 70000}\n", "port 70000 is not a TCP port"),
        ("      - {host: gpu1, hots: x}\n", "hots"),
        ("      - 'gpu 1'\n", "is not a host name, address or ssh alias"),
        ("", "clouds.lab.hosts: empty"),
    ])
    func badHostListsAreRefused(hosts: String, message: String) throws {
        let error = try #require(Fixtures.error(Fixtures.lines("clouds:", "  lab:", "    provider: ssh", "    hosts:") + hosts))
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test func hostsBelongToSSHCloudsOnly() throws {
        let error = try #require(Fixtures.error(Fixtures.lines(
            "clouds:",
            "  net: {provider: gce, zone: us-central1-a}",
            "logins:",
            "  default: {user: debian, private_key: ~/.ssh/id_ed25519}",
            "clusters:",
            "  a: {cloud: net, image: i, groups: {frontend: {count: 1, flavor: f, hosts: [x]}}}")))
        #expect(error.message.contains("'hosts' is for clouds of provider ssh"), "\(error.message)")
    }

    @Test func jumpHostsParse() {
        #expect(JumpHost("me@bastion:2200") == JumpHost(user: "me", host: "bastion", port: 2200))
        #expect(JumpHost("bastion.example.org") == JumpHost(user: nil, host: "bastion.example.org", port: 22))
        #expect(JumpHost("[2001:db8::1]:22") == JumpHost(user: nil, host: "2001:db8::1", port: 22))
        #expect(JumpHost("2001:db8::1") == JumpHost(user: nil, host: "2001:db8::1", port: 22))
        for bad in ["", "@host", "host:0", "host:x", "-oProxyCommand=x", "[::1]x"] { #expect(JumpHost(bad) == nil, "\(bad)") }
        let error = Fixtures.error(Fixtures.lines("clouds:", "  lab: {provider: ssh, hosts: [a], jump: 'host:99999'}"))
        #expect(error?.message.contains("is not a jump host") == true, "\(error?.message ?? "")")
    }

    /// The README's own-machines example, as written there.
    @Test func theReadmeExampleLoads() throws {
        let readme = try String(contentsOfFile: (Fixtures.examplePath as NSString).deletingLastPathComponent + "/README.md", encoding: .utf8)
        let start = try #require(readme.range(of: "```yaml\nclouds:\n  lab:\n    provider: ssh\n"))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let text = String(readme[readme.index(start.lowerBound, offsetBy: 8)..<end.lowerBound])
        let spec = try Fixtures.parse(text + "setups: {slurm: {playbook: slurm}}\n").clusterSpec(template: "lab")
        guard case .ssh(let settings) = spec.cloud.settings else {
            Issue.record("not an ssh cloud")
            return
        }
        #expect(settings.hosts.map(\.host) == ["gpu1", "gpu2", "gpu3"] && settings.user == "researcher")
        #expect(spec.groups.map(\.hosts) == [["gpu1"], ["gpu2", "gpu3"]], "the comment's order")
    }
}
