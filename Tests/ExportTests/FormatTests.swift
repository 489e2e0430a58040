import CloudcCore
@testable import Export
import Foundation
import Testing
import TestSupport

@Suite struct SSHConfigFormatTests {
    @Test func privateAddressesOnly() {
        #expect(SSHConfigFormat.render(Fixtures.handoff(publicAddresses: false)) == """
        # SSH config of cloudc cluster lab, written by cloudc (`cloudc ssh-config lab`).
        # `ssh lab` logs into the frontend; `ssh lab-NODE` into a node, through the frontend.
        # Host keys: the ones cloudc pinned on first contact (/home/me/.cloudc/clusters/lab.known_hosts).

        Host lab lab-frontend001
            HostName 10.0.0.2
            User debian
            IdentityFile /home/me/.ssh/id_ed25519
            IdentitiesOnly yes
            UserKnownHostsFile /home/me/.cloudc/clusters/lab.known_hosts
            GlobalKnownHostsFile /dev/null
            StrictHostKeyChecking yes

        Host lab-compute001
            HostName 10.0.0.3
            ProxyJump lab-frontend001
            User debian
            IdentityFile /home/me/.ssh/id_ed25519
            IdentitiesOnly yes
            UserKnownHostsFile /home/me/.cloudc/clusters/lab.known_hosts
            GlobalKnownHostsFile /dev/null
            StrictHostKeyChecking yes

        Host lab-compute002
            HostName 10.0.0.4
            ProxyJump lab-frontend001
            User debian
            IdentityFile /home/me/.ssh/id_ed25519
            IdentitiesOnly yes
            UserKnownHostsFile /home/me/.cloudc/clusters/lab.known_hosts
            GlobalKnownHostsFile /dev/null
            StrictHostKeyChecking yes

        # lab-gpu-big001: not running (pending), left out

        """)
    }

    /// On a cloud cloudc reaches the frontend at its public address and every other node at its
    /// private one through the frontend, even where it has a public one: its key is pinned there.
    @Test func onlyTheFrontendIsReachedAtItsPublicAddress() {
        let text = SSHConfigFormat.render(Fixtures.handoff(publicAddresses: true))
        #expect(text.contains("""
        Host lab lab-frontend001
            HostName 203.0.113.12
            User debian
        """))
        #expect(text.contains("""
        Host lab-compute001
            HostName 10.0.0.3
            ProxyJump lab-frontend001
            User debian
        """))
        #expect(!text.contains("203.0.113.13") && !text.contains("203.0.113.14"))
    }

    @Test func pathsWithBlanksAndPercentSigns() {
        let handoff = Fixtures.remade(Fixtures.handoff(publicAddresses: false), privateKey: "/home/me/my keys/100%/id")
        let text = SSHConfigFormat.render(handoff)
        #expect(text.contains("    IdentityFile \"/home/me/my keys/100%%/id\"\n"))
    }

    @Test func withoutARunningFrontendNothingIsReachable() {
        let handoff = Fixtures.remade(Fixtures.handoff(publicAddresses: false)) { state in
            state.nodes = state.nodes.map { var node = $0; if node.group == "frontend" { node.state = .stopped }; return node }
        }
        let text = SSHConfigFormat.render(handoff)
        #expect(!text.contains("\nHost "))
        #expect(text.contains("# lab-compute001: left out, the frontend is not running to reach it through"))
    }

    /// OpenSSH itself reads the file: `ssh -G` prints the options it would use for a host.
    @Test func sshReadsIt() throws {
        let dir = try TemporaryDirectory("cloudc-export")
        let file = try dir.write("lab.ssh", SSHConfigFormat.render(Fixtures.handoff(publicAddresses: true)))
        let compute = try sshOptions(file, "lab-compute002")
        #expect(compute["hostname"] == "10.0.0.4")
        #expect(compute["proxyjump"] == "lab-frontend001")
        #expect(compute["hostkeyalias"] == nil)
        #expect(compute["user"] == "debian")
        #expect(compute["stricthostkeychecking"] == "true")
        #expect(compute["userknownhostsfile"] == "/home/me/.cloudc/clusters/lab.known_hosts")
        #expect(compute["identitiesonly"] == "yes")
        let frontend = try sshOptions(file, "lab")
        #expect(frontend["hostname"] == "203.0.113.12")
        #expect(frontend["proxyjump"] == nil)
    }
}

/// `ssh -G` for a host: its resolved options, lower-cased keys (first value).
func sshOptions(_ file: String, _ host: String) throws -> [String: String] {
    let run = try Run.program("/usr/bin/ssh", ["-G", "-F", file, host])
    guard run.status == 0 else { throw PeerError("ssh -G -F \(file) \(host) failed: \(run.stderr)") }
    var options: [String: String] = [:]
    for line in run.stdout.split(separator: "\n") {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        if parts.count == 2, options[parts[0]] == nil { options[parts[0]] = parts[1] }
    }
    return options
}

@Suite struct ClusterJobFormatTests {
    @Test func aClusterBlock() {
        #expect(ClusterJobFormat.render(Fixtures.handoff(publicAddresses: true)) == """
        [lab]
        Host\tlab
        User\tdebian
        Bqs\tSLURM
        Alloc\t-p compute
        Repo\t/home/debian/CJRepo_Remote
        [lab]

        """)
    }

    /// Read the way ClusterJob reads its ssh_config: the text between two `[alias]` lines, then the
    /// first `Key<blanks>value` match of each key, without regard to case.
    @Test func clusterJobFindsEveryKey() throws {
        let text = "[other]\nHost\tother.example.org\nUser\tme\nBqs\tSGE\n[other]\n\n"
            + ClusterJobFormat.render(Fixtures.handoff(publicAddresses: false, user: "root"))
        let block = try #require(try NSRegularExpression(pattern: #"\[([\w\-]+)\](.*?)\[\1\]"#,
                                                         options: [.caseInsensitive, .dotMatchesLineSeparators])
            .matches(in: text, range: NSRange(text.startIndex..., in: text))
            .first { Range($0.range(at: 1), in: text).map { text[$0] } == "lab" })
        let body = String(text[try #require(Range(block.range(at: 2), in: text))])
        func value(_ key: String) throws -> String? {
            let regex = try NSRegularExpression(pattern: key + #"[\t\s]+?(.*)"#, options: [.caseInsensitive])
            guard let match = regex.firstMatch(in: body, range: NSRange(body.startIndex..., in: body)),
                  let range = Range(match.range(at: 1), in: body) else { return nil }
            return body[range].trimmingCharacters(in: .whitespaces)
        }
        #expect(try value("Host") == "lab")
        #expect(try value("User") == "root")
        #expect(try value("Bqs") == "SLURM")
        #expect(try value("Alloc") == "-p compute")
        #expect(try value("Repo") == "/home/root/CJRepo_Remote")
    }

    @Test func noWorkerNodesNoAlloc() {
        let handoff = Fixtures.remade(Fixtures.handoff(publicAddresses: false)) { $0.nodes.removeAll { $0.group != "frontend" } }
        #expect(!ClusterJobFormat.render(handoff).contains("Alloc"))
    }
}

@Suite struct AnsibleInventoryFormatTests {
    @Test func groupsAndHosts() {
        let text = AnsibleInventoryFormat.render(Fixtures.handoff(publicAddresses: false))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("[") } == ["[frontend]", "[compute]", "[gpu_big]", "[lab:children]"])
        #expect(text.hasSuffix("[lab:children]\nfrontend\ncompute\ngpu_big\n"))
        #expect(lines.contains("""
            frontend001 ansible_host=10.0.0.2 ansible_user=debian ansible_ssh_private_key_file=/home/me/.ssh/id_ed25519 \
            ansible_ssh_common_args="-o UserKnownHostsFile=/home/me/.cloudc/clusters/lab.known_hosts \
            -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes"
            """))
        #expect(lines.contains("""
            compute001 ansible_host=10.0.0.3 ansible_user=debian ansible_ssh_private_key_file=/home/me/.ssh/id_ed25519 \
            ansible_ssh_common_args="-o UserKnownHostsFile=/home/me/.cloudc/clusters/lab.known_hosts \
            -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes \
            -o 'ProxyCommand=ssh -i /home/me/.ssh/id_ed25519 -o IdentitiesOnly=yes \
            -o UserKnownHostsFile=/home/me/.cloudc/clusters/lab.known_hosts -o GlobalKnownHostsFile=/dev/null \
            -o StrictHostKeyChecking=yes -W %h:%p debian@10.0.0.2'"
            """))
        #expect(lines.contains("# gpu-big001: not running (pending), left out"))
    }

    @Test func groupNamesAnsibleAccepts() {
        #expect(AnsibleInventoryFormat.groupNames(cluster: "my-lab", groups: ["frontend", "gpu-a"])
            == ("my_lab", ["frontend": "frontend", "gpu-a": "gpu_a"]))
        #expect(AnsibleInventoryFormat.groupNames(cluster: "compute", groups: ["frontend", "compute"]).cluster == "cloudc_compute")
        #expect(AnsibleInventoryFormat.groupNames(cluster: "lab", groups: ["all", "ungrouped"]).groups
            == ["all": "lab_all", "ungrouped": "lab_ungrouped"])
    }

    @Test func quoting() {
        #expect(Shell.quote("%h:%p") == "%h:%p")
        #expect(Shell.quote("a b") == "'a b'")
        #expect(Shell.quote("it's") == "'it'\\''s'")
        #expect(Shell.quote("") == "''")
        #expect(AnsibleInventoryFormat.iniQuote("x y") == "\"x y\"")
        #expect(AnsibleInventoryFormat.iniQuote("say \"hi\"") == "'say \"hi\"'")
    }

    /// Ansible itself reads it: `ansible-inventory --list` gives the groups, hosts and variables,
    /// and the SSH options split (as Ansible splits them) into the words ssh gets.
    @Test(.needsPeer) func ansibleReadsIt() throws {
        let dir = try TemporaryDirectory("cloudc-export")
        let handoff = Fixtures.remade(Fixtures.handoff(publicAddresses: true, home: dir.path + "/a home")) { $0.name = "my-lab" }   // a blank in every path
        let file = try dir.write("hosts.ini", AnsibleInventoryFormat.render(handoff))
        let inventory = try Ansible.list(file, home: dir.path)
        let groups = try #require(inventory["my_lab"] as? [String: Any])
        #expect(Set(groups["children"] as? [String] ?? []) == ["frontend", "compute", "gpu_big"])
        #expect((inventory["compute"] as? [String: Any])?["hosts"] as? [String] == ["compute001", "compute002"])
        #expect((inventory["frontend"] as? [String: Any])?["hosts"] as? [String] == ["frontend001"])
        let hostvars = try #require((inventory["_meta"] as? [String: Any])?["hostvars"] as? [String: [String: Any]])
        let compute = try #require(hostvars["compute001"])
        #expect(compute["ansible_host"] as? String == "10.0.0.3")
        #expect(compute["ansible_user"] as? String == "debian")
        #expect(compute["ansible_ssh_private_key_file"] as? String == dir.path + "/a home/.ssh/id_ed25519")
        let arguments = try shlexSplit(try #require(compute["ansible_ssh_common_args"] as? String))
        let knownHosts = dir.path + "/a home/.cloudc/clusters/lab.known_hosts"
        #expect(arguments.contains("UserKnownHostsFile=\(knownHosts)"))
        #expect(!arguments.contains { $0.hasPrefix("HostKeyAlias") })
        let proxy = try #require(arguments.first { $0.hasPrefix("ProxyCommand=") })
        // ssh hands ProxyCommand to /bin/sh: these are the words the inner ssh gets.
        #expect(try shlexSplit(String(proxy.dropFirst("ProxyCommand=".count))) == [
            "ssh", "-i", dir.path + "/a home/.ssh/id_ed25519", "-o", "IdentitiesOnly=yes",
            "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-W", "%h:%p", "debian@203.0.113.12"])
        #expect(hostvars["frontend001"]?["ansible_host"] as? String == "203.0.113.12")
    }
}

/// Python's `shlex.split` (as Ansible splits SSH arguments, and close to how sh splits words).
func shlexSplit(_ text: String) throws -> [String] {
    let run = try Run.program("/usr/bin/env", ["python3", "-c", "import json, shlex, sys; print(json.dumps(shlex.split(sys.argv[1])))", text])
    guard run.status == 0 else { throw PeerError("shlex.split failed: \(run.stderr)") }
    return try JSONDecoder().decode([String].self, from: Data(run.stdout.utf8))
}

@Suite struct JSONFormatTests {
    @Test func theWholeClusterWithoutSecrets() throws {
        let handoff = Fixtures.handoff(publicAddresses: false)
        let text = try JSONFormat.render(handoff)
        // Stable bytes from run to run (a dictionary's order differs between processes): every
        // object's keys come sorted, as Python's json reads them in the text's order.
        let orders = try Run.program("/usr/bin/env", ["python3", "-c", """
            import json, sys
            bad = []
            def visit(pairs):
                keys = [k for k, _ in pairs]
                if keys != sorted(keys): bad.append(keys)
                return dict(pairs)
            json.loads(sys.argv[1], object_pairs_hook=visit)
            print(json.dumps(bad))
            """, text])
        #expect(orders.status == 0 && orders.stdout == "[]\n", "objects whose keys are not sorted: \(orders.stdout) \(orders.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["name"] as? String == "lab")
        #expect(object["format"] as? String == "cloudc-cluster")
        #expect(object["format_version"] as? Int == 1)
        #expect(object["frontend"] as? String == "frontend001")
        #expect(object["default_partition"] as? String == "compute")
        #expect(object["created_at"] as? String == "2025-10-09T08:53:20Z")
        #expect((object["cloud"] as? [String: Any])?["provider"] as? String == "ec2")
        let login = try #require(object["login"] as? [String: Any])
        #expect(login["user"] as? String == "debian")
        #expect(login["private_key"] as? String == "/home/me/.ssh/id_ed25519")
        #expect((object["files"] as? [String: Any])?["known_hosts"] as? String == "/home/me/.cloudc/clusters/lab.known_hosts")
        let nodes = try #require(object["nodes"] as? [[String: Any]])
        #expect(nodes.map { $0["name"] as? String } == ["frontend001", "compute001", "compute002", "gpu-big001"])
        #expect(nodes[1]["private_ip"] as? String == "10.0.0.3")
        #expect(nodes[1]["public_ip"] is NSNull)
        #expect(nodes[1]["ssh_alias"] as? String == "lab-compute001")
        #expect(nodes[3]["state"] as? String == "pending")
        let groups = try #require(object["groups"] as? [[String: Any]])
        #expect(groups.map { $0["name"] as? String } == ["frontend", "compute", "gpu-big"])
        #expect(groups[1]["nodes"] as? [String] == ["compute001", "compute002"])
        #expect((groups[2]["gpus"] as? [String: Any])?["count"] as? Int == 1)
        // Nothing of the state's internals: idempotency tokens, incarnation, cloud settings.
        for word in ["incarnation", "0123456789ab", "launches", "token", "us-east-1\"", "region"] {
            #expect(!text.contains(word), "\(word) in the export")
        }
        #expect(!text.contains("\\/"), "slashes are not escaped")
    }
}

/// A state file with an address that is no address (written by an older cloudc, or by hand):
/// no SSH config or inventory is made from it. `ssh -G` shows what such a line would have done.
@Suite struct InjectionTests {
    @Test func anAddressWithANewlineMakesNoSSHConfig() throws {
        let good = Fixtures.handoff(publicAddresses: true)
        var state = good.state
        state.nodes[0].publicIP = "203.0.113.11\nHost *\n    ProxyCommand touch /tmp/cloudc-pwned"
        #expect(throws: CloudcError.self) {
            _ = try Handoff(state: state, privateKey: good.privateKey, publicKey: good.publicKey, knownHosts: good.knownHosts, stateFile: good.stateFile)
        }
        var user = good.state
        user.spec.login.user = "-oProxyCommand=touch /tmp/x"
        #expect(throws: CloudcError.self) {
            _ = try Handoff(state: user, privateKey: good.privateKey, publicKey: good.publicKey, knownHosts: good.knownHosts, stateFile: good.stateFile)
        }
        #expect(throws: CloudcError.self) {
            _ = try Handoff(state: good.state, privateKey: "/home/me/key\nHost *", publicKey: good.publicKey, knownHosts: good.knownHosts, stateFile: good.stateFile)
        }
    }

    /// Why it matters, read by the real ssh: the unchecked line would have set a ProxyCommand for every host.
    @Test func sshReadsAnInjectedHostNameAsNewLines() throws {
        let dir = try TemporaryDirectory("cloudc-inject")
        let file = try dir.write("evil.ssh", "Host lab\n    HostName 203.0.113.11\nHost *\n    ProxyCommand touch /tmp/cloudc-pwned\n")
        let run = try Run.program("/usr/bin/ssh", ["-G", "-F", file, "github.com"])
        #expect(run.stdout.contains("proxycommand touch /tmp/cloudc-pwned"), "\(run.stdout)")
        let safe = try dir.write("lab.ssh", SSHConfigFormat.render(Fixtures.handoff(publicAddresses: true)))
        let checked = try Run.program("/usr/bin/ssh", ["-G", "-F", safe, "github.com"])
        #expect(!checked.stdout.contains("proxycommand"), "\(checked.stdout)")
    }
}
