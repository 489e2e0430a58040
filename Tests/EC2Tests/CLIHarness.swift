import CloudcCLI
import Foundation
import TestSupport

/// A user's machine for one test: a home directory with an SSH key, a config, and cloudc run in-process.
final class UserMachine: Sendable {
    let home: TemporaryDirectory
    let environment: [String: String]

    init(moto: MotoServer?, config: String, extraEnvironment: [String: String] = [:]) throws {
        let home = try TemporaryDirectory("cloudc-home")
        _ = try makeSSHKey(in: home.path)
        var environment = [
            "HOME": home.path,
            "CLOUDC_HOME": home.path + "/.cloudc",
            "CLOUDC_POLL_SECONDS": "0.1",
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
        if let moto {
            environment["AWS_ACCESS_KEY_ID"] = moto.accessKeyID
            environment["AWS_SECRET_ACCESS_KEY"] = moto.secretAccessKey
        }
        environment.merge(extraEnvironment) { _, new in new }
        try FileManager.default.createDirectory(atPath: home.path + "/.cloudc", withIntermediateDirectories: true)
        let text = config.replacingOccurrences(of: "$HOME", with: home.path)
            .replacingOccurrences(of: "$ENDPOINT", with: moto?.endpoint ?? "http://127.0.0.1:9")
        _ = try home.write(".cloudc/config.yaml", text)
        self.home = home
        self.environment = environment
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func cloudc(_ arguments: String..., environment extra: [String: String] = [:]) async -> Result {
        let out = OutputCapture(), err = OutputCapture()
        let context = CLIContext(environment: environment.merging(extra) { _, new in new }, homeDirectory: home.path,
                                 output: { out.append($0) }, errorOutput: { err.append($0) })
        let status = await CloudcMain.run(arguments: arguments, context: context)
        return Result(status: status, stdout: out.text, stderr: err.text)
    }

    var stateDirectory: String { home.path + "/.cloudc/clusters" }

    func stateFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }
}

/// A two-group cluster on moto's EC2. `$HOME` and `$ENDPOINT` are filled in by UserMachine.
func ec2Config(frontendFlavor: String = "t3.medium", computeFlavor: String = "c5.xlarge", computeCount: Int = 2,
               image: String = "ami-785db401", computeGPUs: Int? = nil) -> String {
    """
    clouds:
      aws:
        provider: ec2
        region: us-east-1
        endpoint: $ENDPOINT
    logins:
      default:
        user: ubuntu
        private_key: $HOME/id_ed25519
    setups:
      slurm:
        playbook: slurm
    clusters:
      aws-demo:
        cloud: aws
        login: default
        setup: slurm
        image: \(image)
        ssh_from: 198.51.100.0/24
        groups:
          frontend: {count: 1, flavor: \(frontendFlavor)}
          compute:
            count: \(computeCount)
            flavor: \(computeFlavor)
            disk_gb: 30
            spot: true
    \(computeGPUs.map { "        gpus: {count: \($0)}" } ?? "")
    """
}
