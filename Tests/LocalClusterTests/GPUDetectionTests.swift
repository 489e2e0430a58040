import CLITestSupport
import CloudcCore
import Foundation
import State
import Testing
import TestSupport

/// Local nodes are containers that see their host's /sys: on a host with an NVIDIA GPU every
/// worker sees its PCI device. The gpu-driver role must judge by what the node itself has (in a
/// container: none to drive, the host's driver serves the device nodes passed in), or setup would
/// try to install a driver with no internet. Here a stubbed PCI entry stands for the host's GPU.
/// Needs root (as in CI).
@Suite(.serialized) struct GPUDetectionTests {
    @Test func aGPUOnTheHostsPCIBusIsNoDriverToInstallInALocalNode() async throws {
        try LocalClusterTests.requireRoot()
        let root = try TemporaryDirectory("cloudc-local")
        let config = LocalClusterTests.config(root: root.path, template: "lab", groups: """
            frontend: {count: 1}
            compute: {count: 1}
            """).replacingOccurrences(of: "    playbook: slurm", with: "    playbook: slurm\n    vars: {pci_devices: /home/pci-stub}")
        let user = try UserMachine(moto: nil, config: config, extraEnvironment: ["CLOUDC_SHARE": Paths.repoRoot, "CLOUDC_SSH_WAIT": "120"])
        do {
            let start = await user.cloudc("start", "lab", "--no-setup")
            try #require(start.status == 0, "\(start.stderr)")
            // The stub, in the cluster's shared /home as the nodes see it: an NVIDIA (0x10de) 3D
            // controller (class 0x0302), as /sys/bus/pci/devices/0000:00:04.0 shows one.
            let state = try #require(try StateStore(home: user.home.path + "/.cloudc").load("lab"))
            let home = try #require(state.resources.first { $0.kind == .sharedDirectory }.flatMap { $0.id ?? $0.name })
            let device = home + "/pci-stub/0000:00:04.0"
            try FileManager.default.createDirectory(atPath: device, withIntermediateDirectories: true)
            try "0x10de\n".write(toFile: device + "/vendor", atomically: false, encoding: .utf8)
            try "0x030200\n".write(toFile: device + "/class", atomically: false, encoding: .utf8)
            let seen = await user.cloudc("ssh", "lab", "-n", "compute001", "--", "cat /home/pci-stub/0000:00:04.0/vendor; systemd-detect-virt --container")
            #expect(seen.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0x10de\nsystemd-nspawn", "the node sees the stub and knows it is a container: \(seen.stdout) \(seen.stderr)")

            // The installer, had it run, would have failed for want of NVIDIA's repository: setup
            // passes, and the role changed nothing but its installer script's file.
            let setup = await user.cloudc("setup", "lab")
            #expect(setup.status == 0, "\(setup.stderr)")
            #expect(!setup.stderr.contains("install the NVIDIA driver"), "\(setup.stderr)")
            let again = await user.cloudc("setup", "lab")
            #expect(again.stderr.contains("[gpu-driver] compute001: ok"), "\(again.stderr)")
            // No GPU for SLURM either: the node has no device node.
            let gres = await user.cloudc("ssh", "lab", "--", "scontrol show node compute001 | grep -o 'Gres=[^ ]*'")
            #expect(gres.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "Gres=(null)", "\(gres.stdout)")
        } catch {
            _ = await user.cloudc("stop", "lab")
            throw error
        }
        let stop = await user.cloudc("stop", "lab")
        #expect(stop.status == 0, "\(stop.stderr)")
    }
}
