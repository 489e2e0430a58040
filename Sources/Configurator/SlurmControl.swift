import CloudcCore
import Foundation
import SSH

/// SLURM commands on the frontend that a resize needs: drain nodes, wait for their jobs.
public struct SlurmControl: Sendable {
    public let frontend: any RemoteShell
    public let sudo: Bool

    public init(frontend: any RemoteShell, sudo: Bool) {
        self.frontend = frontend; self.sudo = sudo
    }

    private var shell: NodeShell { NodeShell(shell: frontend, sudo: sudo) }

    /// Stops SLURM from giving these nodes new work; running jobs go on.
    public func drain(_ nodes: [String], reason: String) async throws {
        let list = nodes.joined(separator: ",")
        let result = try await shell.run("scontrol update NodeName=\(Shell.quote(list)) State=DRAIN Reason=\(Shell.quote(reason))")
        guard result.status == 0 else {
            throw CloudcError(.remote, "could not drain \(list) in SLURM", fix: "check `sinfo` on the frontend (cloudc ssh -- sinfo)",
                              cause: SetupFailure.tail(result.stderr, lines: 3).joined(separator: " "))
        }
    }

    /// The nodes SLURM has (every NodeName of the running slurmctld).
    public func knownNodes() async throws -> Set<String> {
        let result = try await shell.run("sinfo -h -N -o %N")
        guard result.status == 0 else {
            throw CloudcError(.remote, "sinfo failed on the frontend", fix: "check slurmctld there (cloudc ssh -- systemctl status slurmctld)",
                              cause: SetupFailure.tail(result.stderr, lines: 3).joined(separator: " "))
        }
        return Set(result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// Job ids (with array task where there is one) running or about to run on these nodes.
    public func jobs(on nodes: [String]) async throws -> [String] {
        let result = try await shell.run("squeue -h -o %i -t RUNNING,COMPLETING,CONFIGURING -w \(Shell.quote(nodes.joined(separator: ",")))")
        guard result.status == 0 else {
            throw CloudcError(.remote, "squeue failed on the frontend", cause: SetupFailure.tail(result.stderr, lines: 3).joined(separator: " "))
        }
        return result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Waits until no job runs on `nodes`, saying which jobs it waits for.
    public func waitForJobs(on nodes: [String], poll: Double = 5, timeout: Double = 24 * 3600,
                            progress: any ProgressSink) async throws {
        let start = Date()
        var last: [String] = []
        while true {
            let running = try await jobs(on: nodes)
            if running.isEmpty { return }
            if running != last {
                progress.report("waiting for \(running.count) job\(running.count == 1 ? "" : "s") on \(nodes.joined(separator: ", ")) to finish: "
                                + running.prefix(10).joined(separator: ", ") + " (use --force not to wait)")
                last = running
            }
            if Date().timeIntervalSince(start) > timeout {
                throw CloudcError(.timeout, "jobs \(running.joined(separator: ", ")) still run on \(nodes.joined(separator: ", "))",
                                  fix: "wait for them, cancel them with scancel, or resize with --force")
            }
            try await Task.sleep(nanoseconds: UInt64(poll * 1_000_000_000))
        }
    }
}
