import CLITestSupport
import Foundation
import TestSupport

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
