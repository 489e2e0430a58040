import CLITestSupport
import Foundation
import Testing
import TestSupport

/// `cloudc start` → `list-nodes` → `stop` against moto_server with signatures checked.
@Suite(.serialized, .needsPeer)
struct EC2ClusterTests {
    @Test func startListStopLeavesNothing() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())

            let templates = await user.cloudc("list-templates")
            #expect(templates.status == 0)
            #expect(templates.stdout.contains("aws-demo"))

            let start = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(start.status == 0, "start failed: \(start.stderr)")
            #expect(start.stdout.contains("frontend001"))

            // The cloud's own view (boto3): 3 instances, each named after its node, of the right types.
            let up = try moto.inventory(cluster: "aws-demo")
            #expect(up.live_instances.count == 3)
            let nodeNames = Set(up.instance_tags.values.compactMap { $0["cloudc:node"] })
            #expect(nodeNames == ["frontend001", "compute001", "compute002"])
            #expect(Set(up.instance_tags.values.compactMap { $0["cloudc:group"] }) == ["frontend", "compute"])
            #expect(up.instance_types.values.sorted() == ["c5.xlarge", "c5.xlarge", "t3.medium"])
            #expect(up.key_pairs.count == 1)
            // Only the frontend's instance has a public address, in EC2's own view.
            for (id, tags) in up.instance_tags {
                #expect(((up.public_ips[id] ?? nil) != nil) == (tags["cloudc:group"] == "frontend"), "\(id): \(tags) \(up.public_ips)")
            }
            // One group for all (the cluster's own traffic), one for the frontend (SSH from ssh_from).
            #expect(up.security_groups.count == 2)
            #expect(up.ssh_cidrs == ["198.51.100.0/24"], "SSH must be open to ssh_from only")

            let list = await user.cloudc("list")
            #expect(list.status == 0)
            #expect(list.stdout.contains("aws-demo"))
            #expect(list.stdout.contains("running"))
            #expect(list.stdout.contains("pending"), "started with --no-setup, so its setup is due")

            // The name may be left out when only one cluster exists.
            let nodes = await user.cloudc("list-nodes", "--json")
            #expect(nodes.status == 0, "list-nodes failed: \(nodes.stderr)")
            let rows = try JSONSerialization.jsonObject(with: Data(nodes.stdout.utf8)) as? [[String: Any]] ?? []
            #expect(rows.count == 3)
            #expect(Set(rows.compactMap { $0["instance_id"] as? String }) == Set(up.live_instances))
            // Each node's addresses are the ones EC2 (boto3) reports for its instance.
            for row in rows {
                let id = row["instance_id"] as? String ?? "?"
                #expect(row["state"] as? String == "running")
                #expect(row["private_ip"] as? String == up.private_ips[id] ?? nil, "\(row)")
                #expect(row["public_ip"] as? String == up.public_ips[id] ?? nil, "\(row)")
                // Only the frontend has a public address (moto's own view, above, agrees).
                #expect(((row["public_ip"] as? String)?.isEmpty == false) == (row["group"] as? String == "frontend"), "\(row)")
            }
            let table = await user.cloudc("list-nodes", "aws-demo")
            #expect(table.stdout.split(separator: "\n").count == 4)

            // Handed to ssh on a cloud: the frontend at its public address, the compute nodes at their
            // private one through it, as cloudc reaches (and pins) them.
            let sshConfig = await user.cloudc("export", "-f", "ssh-config")
            #expect(sshConfig.status == 0, "\(sshConfig.stderr)")
            for row in rows {
                // The addresses as EC2 has them, not as cloudc listed them.
                let id = row["instance_id"] as? String ?? ""
                let name = up.instance_tags[id]?["cloudc:node"] ?? "", privateIP = (up.private_ips[id] ?? nil) ?? "-", publicIP = (up.public_ips[id] ?? nil) ?? "-"
                #expect(sshConfig.stdout.contains(name == "frontend001"
                    ? "Host aws-demo aws-demo-frontend001\n    HostName \(publicIP)\n    User "
                    : "Host aws-demo-\(name)\n    HostName \(privateIP)\n    ProxyJump aws-demo-frontend001\n    User "),
                        "\(sshConfig.stdout)")
            }
            let install = await user.cloudc("ssh-config", "--install")
            #expect(install.status == 0, "\(install.stderr)")
            #expect(FileManager.default.fileExists(atPath: user.home.path + "/.ssh/cloudc-aws-demo.config"))

            let stop = await user.cloudc("stop")
            #expect(stop.status == 0, "stop failed: \(stop.stderr)")
            // The installed SSH config went with the cluster: ~/.ssh/config had only its line.
            #expect(!FileManager.default.fileExists(atPath: user.home.path + "/.ssh/cloudc-aws-demo.config"))
            #expect(try String(contentsOfFile: user.home.path + "/.ssh/config", encoding: .utf8) == "")
            let down = try moto.inventory(cluster: "aws-demo")
            #expect(down.live_instances.isEmpty)
            #expect(down.key_pairs.isEmpty)
            #expect(down.security_groups.isEmpty)
            #expect(user.stateFiles().isEmpty)

            let after = await user.cloudc("list-nodes", "aws-demo")
            #expect(after.status != 0)
            #expect(after.stderr.contains("no cluster named 'aws-demo'"))
        }
    }

    /// The host keys cloud-init printed on each instance's console (GetConsoleOutput) are recorded
    /// and pinned before cloudc's first SSH connection: that connection is checked, not trusted.
    @Test func hostKeysFromTheConsoleArePinnedBeforeTheFirstConnection() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            let start = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(start.status == 0, "start failed: \(start.stderr)")
            #expect(start.stderr.contains("host keys (console output)"), "\(start.stderr)")
            let up = try moto.inventory(cluster: "aws-demo")
            let pinned = try String(contentsOfFile: user.stateDirectory + "/aws-demo.known_hosts", encoding: .utf8)
            for id in up.live_instances {
                let key = try #require(moto.hostKeys(of: id).first, "\(id)'s console was never read")
                let address = try #require(up.addresses[id])
                #expect(pinned.contains("\(address) \(key)\n"), "\(id): \(pinned)")
            }
            #expect(pinned.split(separator: "\n").count == up.live_instances.count)
            let stop = await user.cloudc("stop", "aws-demo")
            #expect(stop.status == 0, "\(stop.stderr)")
        }
    }

    /// A policy without ec2:GetConsoleOutput: cloudc says the keys could not be read and trusts the
    /// first contact, at once rather than after the two minutes it would wait for a console.
    @Test func aPolicyThatDeniesTheConsoleIsSaidAndNotWaitedOn() async throws {
        try await MotoServer.with(denied: ["ec2:GetConsoleOutput"]) { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            let began = Date()
            let start = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(start.status == 0, "start failed: \(start.stderr)")
            #expect(Date().timeIntervalSince(began) < 60, "waited on a console it may not read")
            #expect(start.stderr.contains("Could not read the host keys of compute001, compute002, frontend001 ("), "\(start.stderr)")
            #expect(start.stderr.contains("first SSH connection is trusted"), "\(start.stderr)")
            let stop = await user.cloudc("stop", "aws-demo")
            #expect(stop.status == 0, "\(stop.stderr)")
        }
    }

    @Test func wrongSecretKeyFailsClearlyAndCreatesNothing() async throws {
        try await MotoServer.with { moto in
            let wrong = "wrongSecretValue1234567890abcdefghijklmn"
            let user = try UserMachine(moto: moto, config: ec2Config(), extraEnvironment: ["AWS_SECRET_ACCESS_KEY": wrong])
            let start = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(start.status == 1)
            #expect(start.stderr.contains("SignatureDoesNotMatch") || start.stderr.contains("AuthFailure"), "\(start.stderr)")
            #expect(start.stderr.contains("credentials"))
            #expect(!start.stderr.contains(wrong), "the secret key must never be printed")
            #expect(user.stateFiles().isEmpty)
            let inventory = try moto.inventory(cluster: "aws-demo")
            #expect(inventory.all_instances == 0 && inventory.key_pairs.isEmpty && inventory.security_groups.isEmpty)
        }
    }

    /// Specs EC2 cannot satisfy are refused by validation: no state file, nothing in the cloud.
    @Test func unsatisfiableSpecsFailBeforeAnythingIsCreated() async throws {
        let cases: [(what: String, config: String, mentions: String)] = [
            ("unknown instance type", ec2Config(computeFlavor: "c9.hyperlarge"), "c9.hyperlarge"),
            ("unknown AMI", ec2Config(image: "ami-0000000000deadbee"), "ami-0000000000deadbee"),
            ("GPUs on a type without any", ec2Config(computeGPUs: 1), "GPU"),
        ]
        try await MotoServer.with { moto in
            for (what, config, mentions) in cases {
                let user = try UserMachine(moto: moto, config: config)
                let start = await user.cloudc("start", "aws-demo", "--no-setup")
                #expect(start.status == 1, "\(what)")
                #expect(start.stderr.contains(mentions), "\(what): \(start.stderr)")
                #expect(start.stderr.contains("fix:"), "\(what)")
                #expect(user.stateFiles().isEmpty, "\(what)")
                let inventory = try moto.inventory(cluster: "aws-demo")
                #expect(inventory.all_instances == 0 && inventory.key_pairs.isEmpty && inventory.security_groups.isEmpty, "\(what)")
            }
        }
    }

    @Test func gpuInstanceTypeSatisfiesAGPURequest() async throws {
        try await MotoServer.with { moto in
            // moto reports g4dn.xlarge with one NVIDIA T4.
            let user = try UserMachine(moto: moto, config: ec2Config(computeFlavor: "g4dn.xlarge", computeCount: 1, computeGPUs: 1))
            let start = await user.cloudc("start", "aws-demo", "--no-setup")
            #expect(start.status == 0, "\(start.stderr)")
            #expect(try moto.inventory(cluster: "aws-demo").instance_types.values.sorted() == ["g4dn.xlarge", "t3.medium"])
            #expect(await user.cloudc("stop", "aws-demo").status == 0)
            #expect(try moto.inventory(cluster: "aws-demo").live_instances.isEmpty)
        }
    }
}
