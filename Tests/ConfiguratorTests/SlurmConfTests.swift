import CloudcCore
@testable import Configurator
import Foundation
import Testing
import TestSupport

/// slurm.conf and gres.conf as the shipped templates render them, checked by SLURM's own parser.
@Suite struct SlurmConfTests {
    static let hardware = "NodeName=x CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105\nUpTime=0-00:56:13\n"

    func target(cgroups: Bool = true) -> SetupTarget {
        SetupTarget(cluster: "demo", groups: ["frontend", "compute", "gpu"], frontendGroup: "frontend", nodes: [
            SetupNode(name: "frontend001", group: "frontend", sshAddress: "10.77.0.10", privateAddress: "10.77.0.10"),
            SetupNode(name: "compute001", group: "compute", sshAddress: "10.77.0.11", privateAddress: "10.77.0.11"),
            SetupNode(name: "compute002", group: "compute", sshAddress: "10.77.0.12", privateAddress: "10.77.0.12"),
            SetupNode(name: "gpu001", group: "gpu", sshAddress: "10.77.0.13", privateAddress: "10.77.0.13"),
        ], vars: [:], traits: ProviderTraits(sharedHome: true, slurmCgroups: cgroups), secrets: [:], sudo: false)
    }

    func rendered(_ template: String, cgroups: Bool = true) throws -> String {
        let target = target(cgroups: cgroups)
        var context = SetupContext(target: target)
        for node in target.workers { context.facts[node.name] = ["hardware": Self.hardware, "gpu_devices": ""] }
        context.facts["gpu001"]?["gpu_devices"] = "/dev/nvidia1\n/dev/nvidia0\n"
        let store = TemplateStore(directory: Paths.repoRoot + "/templates")
        return try store.template(template).render(context.values(for: target.nodes[0]))
    }

    /// Runs `scontrol` with SLURM_CONF pointing at `text`; SLURM exits non-zero on a file it cannot parse.
    func scontrolParses(_ text: String, extra: [String: String] = [:]) throws -> Run {
        let dir = try TemporaryDirectory("slurmconf")
        let conf = try dir.write("slurm.conf", text)
        for (name, body) in extra { _ = try dir.write(name, body) }
        guard let scontrol = Run.which("scontrol") else {
            throw PeerError("scontrol is not installed: run scripts/install-deps.sh (Debian slurm-client)")
        }
        var env = ProcessInfo.processInfo.environment
        env["SLURM_CONF"] = conf
        return try Run.program(scontrol, ["show", "hostnames", "compute[001-002]"], environment: env)
    }

    @Test func slurmConfListsEveryWorkerWithItsHardwareAndAPartitionPerGroup() throws {
        let conf = try rendered("slurm.conf")
        #expect(conf.contains("SlurmctldHost=frontend001(10.77.0.10)"))
        #expect(conf.contains("NodeName=compute001 NodeAddr=10.77.0.11 CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105 State=UNKNOWN"))
        #expect(conf.contains("NodeName=gpu001 NodeAddr=10.77.0.13 CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105 Gres=gpu:2 State=UNKNOWN"))
        #expect(!conf.contains("NodeName=frontend001"))
        #expect(conf.contains("PartitionName=compute Nodes=compute001,compute002 Default=YES"))
        #expect(conf.contains("PartitionName=gpu Nodes=gpu001 Default=NO"))
        #expect(conf.contains("GresTypes=gpu"))
        #expect(conf.contains("ProctrackType=proctrack/cgroup"))
        #expect(try rendered("slurm.conf", cgroups: false).contains("ProctrackType=proctrack/linuxproc"))
    }

    @Test func gresConfNamesEachDeviceInOrder() throws {
        let gres = try rendered("gres.conf")
        #expect(gres.hasSuffix("NodeName=gpu001 Name=gpu File=/dev/nvidia0\nNodeName=gpu001 Name=gpu File=/dev/nvidia1\n"))
    }

    @Test(arguments: [true, false])
    func slurmItselfParsesTheGeneratedFile(cgroups: Bool) throws {
        let run = try scontrolParses(try rendered("slurm.conf", cgroups: cgroups),
                                     extra: ["cgroup.conf": try rendered("cgroup.conf", cgroups: cgroups),
                                             "gres.conf": try rendered("gres.conf", cgroups: cgroups)])
        #expect(run.status == 0, "scontrol: \(run.stderr)")
        #expect(run.stdout == "compute001\ncompute002\n")
    }

    @Test func theParserCheckIsNotVacuous() throws {
        let broken = try rendered("slurm.conf").replacingOccurrences(of: "CPUs=2", with: "CPUz=2")
        let run = try scontrolParses(broken)
        #expect(run.status != 0)
        #expect(run.stderr.contains("CPUz"))
    }

    @Test func hardwareParsingKeepsOnlyHardwareKeys() throws {
        #expect(try SlurmModel.parseHardware(Self.hardware, node: "c") ==
                "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105")
        #expect(throws: CloudcError.self) { try SlurmModel.parseHardware("slurmd: command not found", node: "c") }
        #expect(throws: CloudcError.self) { try SlurmModel.parseHardware("NodeName=c Boards=1", node: "c") }
    }

    /// A node's `slurmd -C` (a replaced binary on a node the user does not fully control) could
    /// put lines of its own into every node's slurm.conf: only whole numbers get through.
    @Test func hardwareValuesAreNumbersOnly() throws {
        for output in ["NodeName=c CPUs=2\r\nSlurmctldHost=evil RealMemory=100",
                       "NodeName=c CPUs=2 RealMemory=100\rPrologSlurmctld=/tmp/x",
                       "NodeName=c CPUs=2 RealMemory=100\u{2028}Epilog=/tmp/x"] {
            let parsed = try? SlurmModel.parseHardware(output, node: "c")
            #expect(parsed == nil || parsed == "CPUs=2 RealMemory=100", "\(String(reflecting: output)) → \(String(describing: parsed))")
            #expect(parsed?.contains("evil") != true && parsed?.contains("/tmp/x") != true)
        }
        #expect(throws: CloudcError.self) { try SlurmModel.parseHardware("NodeName=c CPUs=2\rPrologSlurmctld=/x RealMemory=1", node: "c") }
        #expect(throws: CloudcError.self) { try SlurmModel.parseHardware("NodeName=c CPUs=2;touch RealMemory=1", node: "c") }
    }

    @Test func gpuDevicesAreFilteredAndSortedNumerically() {
        #expect(SlurmModel.parseGPUDevices("/dev/nvidia10\n/dev/nvidia2\n/dev/nvidiactl\njunk\n") == ["/dev/nvidia2", "/dev/nvidia10"])
    }
}
