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
@Suite(.serialized, .needsRoot) struct GPUDetectionTests {
    /// The node's own init: the child of the systemd-nspawn that boots `root`.
    static func containerInit(root: String) -> pid_t? {
        let pids = HostView.entries("/proc").compactMap { pid_t($0) }
        guard let nspawn = pids.first(where: { pid in
            let words = (ProcFile.data("/proc/\(pid)/cmdline") ?? Data()).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.first?.hasSuffix("systemd-nspawn") == true && words.contains("--directory=" + root)
        }) else { return nil }
        return pids.first { pid in
            guard let stat = ProcFile.text("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
            return stat[stat.index(after: close)...].split(separator: " ").dropFirst().first.flatMap { pid_t($0) } == nspawn
        }
    }

    @Test func aGPUOnTheHostsPCIBusIsNoDriverToInstallInALocalNode() async throws {
        try LocalClusterTests.requireRoot()
        let root = try TemporaryDirectory("cloudc-local")
        let config = LocalClusterTests.config(root: root.path, template: "lab", groups: """
            frontend: {count: 1}
            compute: {count: 1}
            """)
        let user = try UserMachine(moto: nil, config: config, extraEnvironment: ["CLOUDC_SHARE": Paths.repoRoot, "CLOUDC_SSH_WAIT": "120"])
        do {
            let start = await user.cloudc("start", "lab", "--no-setup")
            try #require(start.status == 0, "\(start.stderr)")
            // The host's GPU as the node's /sys shows it: a folder like /sys/bus/pci/devices/
            // 0000:00:04.0 of an NVIDIA (0x10de) 3D controller (class 0x0302), bound over the
            // node's PCI device list inside its own mount namespace.
            let state = try #require(try StateStore(home: user.home.path + "/.cloudc").load("lab"))
            let home = try #require(state.resources.first { $0.kind == .sharedDirectory }.flatMap { $0.id ?? $0.name })
            let device = home + "/pci-stub/0000:00:04.0"
            try FileManager.default.createDirectory(atPath: device, withIntermediateDirectories: true)
            try "0x10de\n".write(toFile: device + "/vendor", atomically: false, encoding: .utf8)
            try "0x030200\n".write(toFile: device + "/class", atomically: false, encoding: .utf8)
            let nodeFolder = try #require(HostView.entries(root.path).first { $0.hasPrefix("lab-") }, "no cluster folder under \(root.path)")
            let nodeRoot = root.path + "/" + nodeFolder + "/nodes/compute001/root"
            let pid = try #require(Self.containerInit(root: nodeRoot), "no process runs in compute001")
            let bound = try Run.program("/usr/bin/nsenter", ["-t", String(pid), "-m", "mount", "--bind", "/home/pci-stub", "/sys/bus/pci/devices"])
            try #require(bound.status == 0, "\(bound.stderr)")
            let seen = await user.cloudc("ssh", "lab", "-n", "compute001", "--", "cat /sys/bus/pci/devices/*/vendor; systemd-detect-virt --container")
            #expect(seen.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0x10de\nsystemd-nspawn",
                    "the node sees the NVIDIA device and knows it is a container: \(seen.stdout) \(seen.stderr)")

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
