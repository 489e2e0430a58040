import CloudcCore
import Foundation
import Providers
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Real nodes on this machine: systemd-nspawn containers on a bridge, reached with OpenSSH.
@Suite(.serialized, .needsRoot)
struct LocalProviderTests {
    @Test func threeNodesBootReachableIsolatedWithSharedHomeAndLeaveNothing() async throws {
        let cluster = try LocalTestCluster()
        let root = cluster.root.path
        var ids: [String] = []
        var bridge = ""
        try await cluster.run { cluster in
            let provider = cluster.provider
            let planned = provider.plannedResources(for: cluster.access)
            #expect(planned.map(\.kind) == [.bridge, .sharedDirectory])
            bridge = planned[0].name
            #expect(bridge.hasPrefix("cc-") && bridge.count <= 15)

            let resources = try await cluster.createResources()
            #expect(try await cluster.createResources() == resources, "a second create finds the same bridge and folder")
            let bridgeID = try #require(resources[0].id)
            let subnet = try #require(LocalNetwork.subnet(fromBridgeID: bridgeID))
            #expect(try HostView.links().contains { $0.contains(" \(bridge):") })
            for resource in resources { #expect(try await provider.exists(resource)) }
            let home = try #require(resources[1].id)

            // Two launches at once, as two groups: the cluster lock hands out distinct addresses.
            let started = Date()
            let frontendRequest = cluster.request(group: "frontend", nodes: ["frontend001"], token: "tok-frontend", resources: resources)
            let computeRequest = cluster.request(group: "compute", nodes: ["compute001", "compute002"], token: "tok-compute", resources: resources)
            async let frontend = provider.launch(frontendRequest)
            async let compute = provider.launch(computeRequest)
            let (frontendNodes, computeNodes) = try await (frontend, compute)
            let launched = frontendNodes + computeNodes
            #expect(launched.count == 3)
            #expect(Set(launched.map(\.id)).count == 3)
            #expect(launched.allSatisfy { $0.state == .running && $0.id.count == 12 })
            let byNode = Dictionary(uniqueKeysWithValues: launched.compactMap { i in i.node.map { ($0, i) } })
            #expect(Set(byNode.keys) == ["frontend001", "compute001", "compute002"])
            let ips = launched.compactMap(\.privateIP)
            #expect(Set(ips).count == 3)
            #expect(ips.allSatisfy { IPv4Network.parse($0).map(subnet.contains) == true })

            // Every node answers SSH with its own name.
            let names = try await withThrowingTaskGroup(of: (String, String).self) { tasks in
                for (node, instance) in byNode {
                    let ip = try #require(instance.privateIP)
                    tasks.addTask { (node, try await cluster.waitForSSH(ip)) }
                }
                var names: [String: String] = [:]
                for try await (node, printed) in tasks { names[node] = printed }
                return names
            }
            #expect(names == ["frontend001": "frontend001", "compute001": "compute001", "compute002": "compute002"])
            print("local: 3 nodes launched and answering SSH in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")

            // The shared image (built on first use) holds no per-node identity.
            let etc = LocalSettings.defaultImageDir + "/debian-12/etc"
            #expect(try FileManager.default.contentsOfDirectory(atPath: etc + "/ssh").filter { $0.hasPrefix("ssh_host_") }.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: etc + "/munge/munge.key"))
            #expect(FileManager.default.contents(atPath: etc + "/machine-id") == Data())
            #expect(FileManager.default.fileExists(atPath: etc + "/systemd/system/multi-user.target.wants/systemd-networkd.service"))

            let f = try #require(byNode["frontend001"]?.privateIP)
            let c1 = try #require(byNode["compute001"]?.privateIP)
            let c2 = try #require(byNode["compute002"]?.privateIP)
            // Own identity per node.
            var hostKeys: Set<String> = [], machineIDs: Set<String> = []
            for ip in [f, c1, c2] {
                hostKeys.insert(try await cluster.sshOK(ip, "cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2"))
                machineIDs.insert(try await cluster.sshOK(ip, "cat /etc/machine-id"))
            }
            #expect(hostKeys.count == 3, "each node has its own SSH host key")
            #expect(machineIDs.count == 3 && machineIDs.allSatisfy { $0.count == 32 })

            // /etc is each node's own; /home is one folder for all.
            _ = try await cluster.sshOK(f, "echo frontend-only > /etc/cloudc-probe")
            #expect(try await cluster.ssh(c1, "test -e /etc/cloudc-probe").status == 1)
            #expect(!FileManager.default.fileExists(atPath: LocalSettings.defaultImageDir + "/debian-12/etc/cloudc-probe"))
            _ = try await cluster.sshOK(c1, "echo shared > /home/cloudc-probe")
            #expect(try await cluster.sshOK(c2, "cat /home/cloudc-probe") == "shared")
            #expect(try await cluster.sshOK(f, "cat /home/cloudc-probe") == "shared")
            #expect(FileManager.default.fileExists(atPath: home + "/cloudc-probe"))
            // Each node's systemd has a cgroup of its own, else the nodes' systemds manage one
            // another's services (munge failed to start with status=219/CGROUP).
            let cgroups = HostView.nodeInitCgroups(under: root)
            #expect(cgroups.count == 3 && Set(cgroups).count == 3, "\(cgroups)")
            // Nodes reach each other over the bridge.
            _ = try await cluster.sshOK(c2, "ping -c1 -W2 \(f) >/dev/null 2>&1 || (exec 3<>/dev/tcp/\(f)/22)")

            // The cloud's view: all three, running, with addresses.
            let listed = try await provider.instances(cluster: cluster.access.cluster, incarnation: cluster.access.incarnation)
            #expect(listed.map(\.id).sorted() == launched.map(\.id).sorted())
            #expect(listed.allSatisfy { $0.state == .running && $0.privateIP != nil && $0.launchToken != nil })
            #expect(try await provider.instances(cluster: cluster.access.cluster, incarnation: "000000000000").isEmpty)

            // The same launch again creates nothing and returns the same instances.
            let nspawnBefore = HostView.nspawnProcesses(under: root)
            let again = try await provider.launch(computeRequest)
            #expect(again.map(\.id) == computeNodes.map(\.id))
            #expect(again.map(\.privateIP) == computeNodes.map(\.privateIP))
            #expect(HostView.nspawnProcesses(under: root).sorted() == nspawnBefore.sorted())
            #expect(nspawnBefore.count == 3)
            #expect(HostView.entries(provider.layout.nodesDirectory(cluster: cluster.access.cluster, incarnation: cluster.access.incarnation)).count == 3)

            ids = launched.map(\.id)
            let stopping = Date()
            try await provider.terminate(ids)
            print("local: 3 nodes terminated in \(String(format: "%.1f", Date().timeIntervalSince(stopping))) s")
            #expect(try await provider.instances(cluster: cluster.access.cluster, incarnation: nil).isEmpty)
            try await provider.terminate(ids)   // already gone: fine
            for resource in resources.reversed() {
                try await provider.delete(resource)
                #expect(try await !provider.exists(resource))
                try await provider.delete(resource)   // already gone: fine
            }
        }
        // Nothing left on the machine.
        #expect(HostView.nspawnProcesses(under: root).isEmpty)
        #expect(HostView.mounts(under: root).isEmpty)
        let links = try HostView.links()
        #expect(!links.contains { $0.contains(bridge) })
        #expect(!links.contains { line in ids.contains { line.contains("vb-\($0)") } })
        #expect(HostView.entries(root).isEmpty, "left under the root: \(HostView.entries(root))")
        let cgroups = NodeCgroup.hierarchies().flatMap { mount in ids.map { mount + "/" + NodeCgroup.relativePath($0) } }
        #expect(!cgroups.isEmpty && !cgroups.contains { FileManager.default.fileExists(atPath: $0) }, "a node's cgroup is left")
    }

    @Test func loginUserHasOneUIDSudoAndItsHomeOnEveryNode() async throws {
        let cluster = try LocalTestCluster(user: "debian")
        try await cluster.run { cluster in
            let provider = cluster.provider
            let resources = try await cluster.createResources()
            let request = cluster.request(group: "compute", nodes: ["compute001", "compute002"], token: "tok-a", resources: resources)
            let launched = try await provider.launch(request)
            let ips = launched.compactMap(\.privateIP)
            #expect(ips.count == 2)
            for ip in ips { _ = try await cluster.waitForSSH(ip) }
            let first = try await cluster.sshOK(ips[0], "id -u; id -g; sudo -n whoami; echo $HOME; echo hello > ~/note")
            let second = try await cluster.sshOK(ips[1], "id -u; id -g; sudo -n whoami; echo $HOME; cat ~/note")
            #expect(first.split(separator: "\n") == ["1000", "1000", "root", "/home/debian"])
            #expect(second.split(separator: "\n") == ["1000", "1000", "root", "/home/debian", "hello"])
            #expect(try await cluster.ssh(ips[0], "true", user: "root").status != 0, "only the login user has the key")

            // A launch under another token finds the nodes instead of making new ones.
            let other = cluster.request(group: "compute", nodes: ["compute001", "compute002"], token: "tok-b", resources: resources)
            let adopted = try await provider.launch(other)
            #expect(adopted.map(\.id) == launched.map(\.id))
            #expect(adopted.allSatisfy { $0.launchToken == "tok-a" })
            #expect(cluster.progress.lines.text.contains("exists from an earlier launch"))

            // assign rewrites the node's tag.
            try await provider.assign(node: "renamed", cluster: cluster.access.cluster, instanceID: launched[0].id)
            let listed = try await provider.instances(cluster: cluster.access.cluster, incarnation: cluster.access.incarnation)
            #expect(listed.first { $0.id == launched[0].id }?.node == "renamed")
        }
        #expect(HostView.entries(cluster.root.path).isEmpty)
    }
}

extension LocalProviderTests {
    /// systemd-nspawn killed outright leaves its container running, reparented: terminate
    /// still finds and ends it, and unmounts and removes the node.
    @Test func nodeOutlivingItsKilledNspawnIsStillCleanedUp() async throws {
        let cluster = try LocalTestCluster()
        try await cluster.run { cluster in
            let resources = try await cluster.createResources()
            let launched = try await cluster.provider.launch(cluster.request(group: "compute", nodes: ["compute001"], token: "t", resources: resources))
            let instance = try #require(launched.first)
            let files = cluster.provider.layout.node(cluster: cluster.access.cluster, incarnation: cluster.access.incarnation, node: "compute001")
            let pid = try #require(pid_t(String(contentsOfFile: files.pidPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            // Kill it once the container has booted past its own systemd (its services run): killed
            // while nspawn still sets the container up, the container dies with it.
            try await waitUntil("the node's own services to run", seconds: 20, interval: 0.1) { HostView.processes(rootedAt: files.root).count >= 3 }
            kill(pid, SIGKILL)
            try await waitUntil("the killed systemd-nspawn to be gone", seconds: 5, interval: 0.1) { HostView.nspawnProcesses(under: files.root).isEmpty }
            let listed = try await cluster.provider.instances(cluster: cluster.access.cluster, incarnation: cluster.access.incarnation)
            #expect(listed.map(\.state) == [.stopped])
            #expect(listed.first?.fault?.contains(files.logPath) == true)
            let orphans = HostView.processes(rootedAt: files.root)
            #expect(!orphans.isEmpty, "the container's systemd outlives its nspawn")

            try await cluster.provider.terminate([instance.id])
            #expect(orphans.filter(HostView.isRunning).isEmpty)
            #expect(HostView.mounts(under: files.directory).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: files.directory))
        }
        #expect(HostView.entries(cluster.root.path).isEmpty)
    }
}

/// What needs no root: the host checks, naming and addressing, config checks, bridge subnets.
@Suite struct LocalProviderChecks {
    let spec = ClusterSpec(
        template: "box", cloud: CloudSpec(name: "here", provider: .local, settings: .local(LocalSettings())),
        login: LoginSpec(name: "default", user: "debian", privateKey: "/k", publicKey: "/k.pub"),
        image: "debian-12",
        groups: [NodeGroupSpec(name: "frontend", count: 1, flavor: "container"),
                 NodeGroupSpec(name: "gpu", count: 2, flavor: "container", gpus: GPURequest(type: "nvidia-tesla-t4", count: 1))])

    func provider(uid: UInt32 = 0, linux: Bool = true, settings: LocalSettings = LocalSettings(),
                  commands: FakeHostCommands = FakeHostCommands()) -> LocalProvider {
        LocalProvider(settings: settings, commands: commands, host: LocalHost(isLinux: linux, effectiveUserID: uid))
    }

    @Test func nonRootIsToldToRunAsRoot() async throws {
        let error = try #require(await #expect(throws: CloudcError.self) { try await provider(uid: 1000).validate(spec) })
        #expect(error.code == .unsupported)
        #expect(error.message.hasPrefix("the local provider needs root on Linux"))
        #expect(error.message.contains("uid 1000"))
        #expect(error.fix == "run as root (sudo cloudc …) on a Linux machine with systemd-container installed")
        let notLinux = try #require(await #expect(throws: CloudcError.self) { try await provider(linux: false).validate(spec) })
        #expect(notLinux.message.hasPrefix("the local provider needs root on Linux"))
        // Everything that acts on the host says the same before touching anything.
        let commands = FakeHostCommands()
        await #expect(throws: CloudcError.self) {
            try await provider(uid: 1000, commands: commands).create(ResourceRecord(kind: .bridge, name: "cc-00000000"),
                                                                     for: AccessRequest(cluster: "c", incarnation: "i", sshFrom: "", publicKey: "", loginUser: "root"))
        }
        #expect(commands.commands.isEmpty)
    }

    /// stop deletes what the state file names; a tampered state must not make root delete an
    /// interface or a folder that is not cloudc's own.
    @Test func stopDeletesOnlyItsOwnBridgeAndHomeWhateverTheStateSays() async throws {
        let root = try TemporaryDirectory("cloudc-owned")
        let commands = FakeHostCommands()
        let provider = provider(settings: LocalSettings(root: root.path), commands: commands)
        for name in ["eth0", "lo", "cc-0000000", "cc-0123456789", "cc-ABCDEF01", "cc-0000000g"] {
            let error = try #require(await #expect(throws: CloudcError.self) { try await provider.delete(ResourceRecord(kind: .bridge, name: name)) })
            #expect(error.code == .state && error.message.contains("refusing to delete the interface"), "\(name): \(error.message)")
        }
        let decoy = try root.write("decoy/keep", "keep\n")
        for path in ["/home", "//home", "/a/../home", root.path + "/../home", root.path + "/lab-0123456789ab/../../home",
                     root.path + "/home", root.path + "/lab-0123456789ab/nodes", root.path + "/decoy/home", "relative/home",
                     root.path + "/x/y/home"] {
            let error = try #require(await #expect(throws: CloudcError.self) {
                try await provider.delete(ResourceRecord(kind: .sharedDirectory, name: path, id: path))
            })
            #expect(error.message.contains("refusing to delete"), "\(path): \(error.message)")
        }
        #expect(commands.commands.isEmpty, "ran: \(commands.commands)")
        #expect(FileManager.default.fileExists(atPath: decoy))

        // What cloudc made is deleted (rm acted out here).
        let removing = FakeHostCommands { line in
            if line.first == "rm" { for path in line.dropFirst(3) { try? FileManager.default.removeItem(atPath: path) } }
            return CommandResult(status: 0)
        }
        let home = root.path + "/lab-0123456789ab/home"
        _ = try root.write("lab-0123456789ab/home/u/file", "x")
        try await self.provider(settings: LocalSettings(root: root.path), commands: removing)
            .delete(ResourceRecord(kind: .sharedDirectory, name: home, id: home))
        #expect(removing.commands == [["rm", "-rf", "--one-file-system", home]])
        #expect(!FileManager.default.fileExists(atPath: root.path + "/lab-0123456789ab"))
    }

    @Test func validateAcceptsContainersWithGPUsAndRejectsOtherImagesAndFlavors() async throws {
        try await provider().validate(spec)

        var ubuntu = spec
        ubuntu.image = "ubuntu-24.04"
        let image = try #require(await #expect(throws: CloudcError.self) { try await provider().validate(ubuntu) })
        #expect(image.message == "the local provider cannot make image 'ubuntu-24.04'; it supports: debian-12, debian-12-stock")

        var big = spec
        big.groups[1].flavor = "n2-standard-8"
        let flavor = try #require(await #expect(throws: CloudcError.self) { try await provider().validate(big) })
        #expect(flavor.message.contains("flavor 'n2-standard-8'"))
        #expect(flavor.fix == "set flavor: container in clusters.box.groups.gpu, or leave flavor: out")

        let tiny = try #require(await #expect(throws: CloudcError.self) {
            try await provider(settings: LocalSettings(subnet: "10.9.0.0/29")).validate(spec)
        })
        #expect(tiny.message.contains("has addresses for 0 nodes"))
    }

    @Test func namesFitInterfaceNamesAndDifferPerIncarnation() {
        let a = LocalNetwork.bridgeName(cluster: "a-rather-long-cluster-name-of-forty-chars", incarnation: "0123456789ab")
        let b = LocalNetwork.bridgeName(cluster: "a-rather-long-cluster-name-of-forty-chars", incarnation: "0123456789ac")
        #expect(a.count == 11 && a.hasPrefix("cc-") && a != b)
        #expect(a == LocalNetwork.bridgeName(cluster: "a-rather-long-cluster-name-of-forty-chars", incarnation: "0123456789ab"))
        let machines = (1...200).map { LocalProvider.machineName(cluster: "demo", incarnation: "0123456789ab", node: computeName($0)) }
        #expect(Set(machines).count == 200)
        #expect(machines.allSatisfy { $0.count == 12 && ("vb-" + $0).count <= 15 })
    }

    @Test func addressesAndSubnets() {
        let output = """
            1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
            4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
            9: cc-1a2b3c4d    inet 10.77.0.1/24 scope global cc-1a2b3c4d\\       valid_lft forever preferred_lft forever
            10: wg0    inet 10.77.2.7/23 scope global wg0
            """
        let addresses = LocalNetwork.parseAddresses(output)
        #expect(addresses.map(\.interface) == ["lo", "eth0", "cc-1a2b3c4d", "wg0"])
        #expect(addresses[2].network == IPv4Network(cidr: "10.77.0.0/24"))
        #expect(LocalNetwork.firstFreeSubnet(taken: addresses)?.description == "10.77.1.0/24")
        #expect(LocalNetwork.firstFreeSubnet(taken: addresses + [InterfaceAddressFixture.make("x", "10.77.1.9", 24)])?.description == "10.77.4.0/24")

        let subnet = IPv4Network(network: 0x0A4D_0300, prefix: 24)
        #expect(LocalNetwork.bridgeID(name: "cc-1a2b3c4d", subnet: subnet) == "cc-1a2b3c4d 10.77.3.1/24")
        #expect(LocalNetwork.subnet(fromBridgeID: "cc-1a2b3c4d 10.77.3.1/24") == subnet)
        let used: Set<UInt32> = [subnet.network + 10, subnet.network + 12]
        #expect(LocalNetwork.nodeAddress(in: subnet, used: used).map(IPv4Network.format) == "10.77.3.11")
        let full = Set((10...254).map { subnet.network + UInt32($0) })
        #expect(LocalNetwork.nodeAddress(in: subnet, used: full) == nil)
        #expect(IPv4Network(cidr: "10.77.3.300/24") == nil)
    }

    @Test func configuredSubnetInUseIsRefusedBeforeAnythingIsMade() async throws {
        let commands = FakeHostCommands(answers: [
            "ip -4 -o addr show": CommandResult(status: 0, stdout: "4: eth0    inet 10.1.2.3/16 brd 10.1.255.255 scope global eth0\n"),
            "ip -o link show dev": CommandResult(status: 1, stderr: "Device does not exist."),
        ])
        let access = AccessRequest(cluster: "c", incarnation: "0123456789ab", sshFrom: "", publicKey: "", loginUser: "root")
        let lockDir = try TemporaryDirectory("cloudc-lock")
        let locked = LocalProvider(cloudName: "here", settings: LocalSettings(subnet: "10.1.7.0/24", root: lockDir.path), commands: commands,
                                   host: LocalHost(isLinux: true, effectiveUserID: 0), networkLockPath: lockDir.path + "/net.lock")
        let error = try #require(await #expect(throws: CloudcError.self) {
            try await locked.create(locked.plannedResources(for: access)[0], for: access)
        })
        #expect(error.message == "subnet 10.1.7.0/24 of cloud 'here' is already in use on this machine: interface eth0 has 10.1.2.3/16")
        #expect(!commands.commands.contains { $0.starts(with: ["ip", "link", "add"]) })

        // Without a subnet: the first free /24 of 10.77.0.0/16, recorded in the id.
        let free = FakeHostCommands(answers: [
            "ip -4 -o addr show": CommandResult(status: 0, stdout: "9: cc-aaaaaaaa    inet 10.77.0.1/24 scope global cc-aaaaaaaa\n"),
            "ip -o link show dev": CommandResult(status: 1),
        ])
        let auto = LocalProvider(settings: LocalSettings(root: lockDir.path), commands: free,
                                 host: LocalHost(isLinux: true, effectiveUserID: 0), networkLockPath: lockDir.path + "/net.lock")
        let bridge = try await auto.create(auto.plannedResources(for: access)[0], for: access)
        #expect(bridge.id == "\(bridge.name) 10.77.1.1/24")
        #expect(free.commands.filter { $0.first == "ip" && $0.dropFirst().first != "-4" && $0.dropFirst().first != "-o" }
            == [["ip", "link", "add", bridge.name, "type", "bridge"], ["ip", "addr", "add", "10.77.1.1/24", "dev", bridge.name],
                ["ip", "link", "set", bridge.name, "up"]])
    }
}

/// `compute` + n, as the planner names nodes.
func computeName(_ n: Int) -> String { "compute" + String(format: "%03d", n) }

enum InterfaceAddressFixture {
    static func make(_ interface: String, _ address: String, _ prefix: Int) -> InterfaceAddress {
        LocalNetwork.parseAddresses("1: \(interface)    inet \(address)/\(prefix) scope global \(interface)")[0]
    }
}
