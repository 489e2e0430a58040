import CLITestSupport
import Foundation
import Testing
import TestSupport

/// The path a cloud VM takes: nodes booted from a stock Debian 12 image (no SLURM, no munge),
/// logged into as a non-root user with sudo, with no route out: every package setup needs comes
/// through the package cache on this machine, each fetched from Debian once.
@Suite(.serialized, .needsRoot) struct StockImageTests {
    static func config(root: String, cachePort: Int) -> String {
        """
        clouds:
          local:
            provider: local
            root: \(root)
            package_cache_port: \(cachePort)
        logins:
          default:
            user: admin
            private_key: $HOME/id_ed25519
        setups:
          slurm:
            playbook: slurm
        clusters:
          lab:
            cloud: local
            image: debian-12-stock
            setup: slurm
            groups:
              frontend: {count: 1}
              compute: {count: 2}
        """
    }

    @Test func aStockImageAsANonRootUserGetsItsPackagesThroughTheCacheAndRunsJobs() async throws {
        try LocalClusterTests.requireRoot()
        let cache = try await PackageCache()
        defer { cache.stop() }
        let root = try TemporaryDirectory("cloudc-local")
        let user = try UserMachine(moto: nil, config: Self.config(root: root.path, cachePort: cache.port),
                                   extraEnvironment: ["CLOUDC_SHARE": Paths.repoRoot, "CLOUDC_SSH_WAIT": "120"])
        let cluster = LocalClusterTests.Cluster(user: user, root: root)
        do {
            let began = Date()
            let start = await user.cloudc("start", "lab")
            #expect(start.status == 0, "\(start.stderr)")
            print(String(format: "timing: start of a stock-image cluster to SLURM ready %.1f s", Date().timeIntervalSince(began)))
            #expect(start.stderr.contains("install munge"), "munge came from the cache: \(start.stderr)")

            // Logged in as admin, not root; root's work went through sudo.
            #expect(await cluster.sh("id -un").trimmingCharacters(in: .whitespacesAndNewlines) == "admin")
            #expect(await cluster.sh("dpkg-query -W -f='${db:Status-Status}' slurmd", on: "compute002") == "installed")
            #expect(await cluster.sh("cat /etc/apt/apt.conf.d/00cloudc-package-cache").contains("Acquire::http::Proxy"))
            // The nodes have no route out: only the cache's address answers.
            let direct = await user.cloudc(["ssh", "lab", "--", "ip route get 151.101.2.132 2>&1 || echo unreachable"])
            #expect(direct.stdout.contains("unreachable"), "a node has a route out: \(direct.stdout)")

            _ = try await cluster.until("compute nodes idle", "sinfo -h -N -p compute -o '%N %t'") {
                $0.contains("compute001 idle") && $0.contains("compute002 idle")
            }
            let job = await cluster.sh("sbatch --parsable -p compute -N 2 --wrap 'srun hostname'")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try await cluster.until("the job to finish", "squeue -h -j \(job)") { $0.isEmpty }
            let output = await cluster.sh("cat slurm-\(job).out")
            #expect(output.contains("compute001") && output.contains("compute002"), "\(output)")

            // Each package file came from Debian once, however many nodes installed it.
            let stats = try #require(cache.stats)
            print("measure: package cache fetched \(stats.upstream_files) file(s), \(stats.upstream_bytes) bytes from outside; "
                  + "served \(stats.served_files) file(s), \(stats.served_bytes) bytes to the nodes")
            #expect(stats.upstream_files > 0 && stats.served_files > stats.upstream_files, "\(stats)")

            let again = await user.cloudc("setup", "lab")
            #expect(again.status == 0 && again.stderr.contains(" 0 changed"), "\(again.stderr)")

            let stop = await user.cloudc("stop", "lab")
            #expect(stop.status == 0, "\(stop.stderr)")
        } catch {
            _ = await user.cloudc("stop", "lab")
            throw error
        }
    }
}
