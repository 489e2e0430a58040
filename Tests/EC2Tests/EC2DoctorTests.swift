import CLITestSupport
import CloudcCore
import Foundation
import State
import Testing
import TestSupport

/// `cloudc doctor` against moto: a VM deleted behind cloudc's back, an instance the state
/// forgot, a state file gone; what `--fix` repairs, and the exit status scripts read.
@Suite(.serialized, .needsPeer) struct EC2DoctorTests {
    @Test func driftIsFoundFixedWhereSafeAndAMissingStateIsTold() async throws {
        try await MotoServer.with { moto in
            let user = try UserMachine(moto: moto, config: ec2Config())
            #expect(await user.cloudc("start", "aws-demo", "--no-setup").status == 0)
            let healthy = await user.cloudc("doctor")
            #expect(healthy.status == 0 && healthy.stdout.contains("nothing wrong: the state, the cloud and SLURM agree"), "\(healthy.stdout) \(healthy.stderr)")

            // compute002's VM terminated in the console; compute001 dropped from the state file.
            let store = StateStore(home: user.home.path + "/.cloudc")
            var state = try #require(try store.load("aws-demo"))
            let gone = try #require(state.nodes.first { $0.name == "compute002" }?.instanceID)
            let forgotten = try #require(state.nodes.first { $0.name == "compute001" }?.instanceID)
            try moto.terminateBehindCloudcsBack(gone)
            state.nodes.removeAll { $0.name == "compute001" }
            try store.save(state)

            let sick = await user.cloudc("doctor", "aws-demo")
            print("doctor after a VM was deleted behind cloudc's back:\n\(sick.stdout)")
            #expect(sick.status == 1, "\(sick.stderr)")
            #expect(sick.stdout.contains("✗ lost-node compute002: the state has compute002 (\(gone)), which the cloud no longer has"), "\(sick.stdout)")
            #expect(sick.stdout.contains("✗ forgotten-instance \(forgotten)"), "\(sick.stdout)")
            #expect(sick.stdout.contains("to repair what is safe to: cloudc doctor aws-demo --fix"), "\(sick.stdout)")
            let json = await user.cloudc("doctor", "aws-demo", "--json")
            let reports = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]] ?? []
            let kinds = (reports.first?["findings"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }.sorted()
            // The host keys pinned for both compute nodes no longer belong to a node of the cluster.
            #expect(json.status == 1 && kinds == ["forgotten-instance", "lost-node", "stale-host-key", "stale-host-key"], "\(json.stdout)")

            let fixed = await user.cloudc("doctor", "aws-demo", "--fix")
            #expect(fixed.status == 0 && fixed.stdout.contains("all 4 fixed"), "\(fixed.stdout) \(fixed.stderr)")
            #expect(try moto.inventory(cluster: "aws-demo").live_instances.count == 1, "the forgotten instance was terminated")
            #expect(try store.load("aws-demo")?.nodes.map(\.name) == ["frontend001"])
            #expect(await user.cloudc("doctor", "aws-demo").status == 0)

            // The state file gone: the cloud still holds the cluster, and doctor says how to end it.
            try FileManager.default.removeItem(atPath: store.path(of: "aws-demo"))
            let lost = await user.cloudc("doctor", "aws-demo")
            print("doctor after the state file was deleted:\n\(lost.stdout)")
            #expect(lost.status == 1 && lost.stdout.contains("✗ no-state aws: start \(state.incarnation)"), "\(lost.stdout) \(lost.stderr)")
            #expect(lost.stdout.contains("to delete what is left: cloudc stop aws-demo"), "\(lost.stdout)")
            #expect(await user.cloudc("stop", "aws-demo", "--force").status == 0)
            let down = try moto.inventory(cluster: "aws-demo")
            #expect(down.live_instances.isEmpty && down.security_groups.isEmpty && down.key_pairs.isEmpty, "\(down)")
        }
    }
}
