import CloudcCore
import Foundation

/// The config cloudc uses when there is none, and the commented starter config `cloudc init`
/// writes. Both are YAML text that `ConfigLoader` reads like any other config.
public enum StarterConfig {
    /// How error messages name the built-in config.
    public static let builtinName = "the built-in config (there is no config file)"

    /// The clouds `cloudc init` knows, by the names a user types (`aws` and `ec2` are one).
    public static let cloudNames: [String: ProviderKind] = ["local": .local, "gce": .gce, "aws": .ec2, "ec2": .ec2, "openstack": .openstack]

    /// The built-in config: template `local`, 1 frontend + 2 compute nodes on this machine, set
    /// up with SLURM, logged into as root with `privateKey`.
    public static func builtin(privateKey: String) -> String {
        """
        clouds:
          local: {provider: local}
        logins:
          default: {user: root, private_key: \(quoted(privateKey))}
        setups:
          slurm: {playbook: slurm}
        clusters:
          local:
            cloud: local
            setup: slurm
            groups:
              frontend: {count: 1}
              compute: {count: 2}

        """
    }

    /// Loads the built-in config.
    public static func loadBuiltin(privateKey: String, environment: [String: String], homeDirectory: String) throws -> CloudcConfig {
        try ConfigLoader.parse(yaml: builtin(privateKey: privateKey), path: builtinName, environment: environment, homeDirectory: homeDirectory)
    }

    /// A commented config with one cloud, login and template per provider in `providers` (in that
    /// order), filled with what was `found`; `privateKey` is the key every login uses.
    public static func render(_ providers: [ProviderKind], found: Discovered, privateKey: String) -> String {
        var clouds: [String] = []
        var logins: [String] = []
        var clusters: [String] = []
        for provider in providers {
            switch provider {
            case .ssh:
                continue   // own machines are listed by hand (config.example.yaml shows how)
            case .local:
                clouds.append("""
                  local:
                    provider: local                     # nodes are systemd-nspawn containers on this machine (run cloudc as root)
                    # subnet: 10.77.0.0/24              # default: a free /24 of 10.77.0.0/16
                """)
                logins.append(login("local", user: "root", privateKey, note: "local nodes are logged into as root"))
                clusters.append("""
                  local:                                # cloudc start local
                    cloud: local
                    login: local
                    setup: slurm
                    groups:
                      frontend: {count: 1}
                      compute: {count: 2}
                """)
            case .gce:
                let gce = found.gce
                clouds.append("""
                  gce:
                    provider: gce                       # Google Compute Engine
                    project: \(gce?.project.map(quoted) ?? "my-project-123456")\(gce?.project == nil ? "       # TODO: your project id (gcloud projects list)" : "")
                    zones: [\(gce?.zone ?? "us-central1-a")]\(gce?.zone == nil ? "             # later zones are capacity fallbacks" : "")
                \(gce?.credentials.map { "    credentials: \(quoted($0))" } ?? "    # credentials: ~/keys/sa.json     # a service-account key; default: GOOGLE_APPLICATION_CREDENTIALS, gcloud's")
                    # \(gce.map { "found: \($0.source)" } ?? "no credentials found: run gcloud auth application-default login")
                """)
                logins.append(login("gce", user: "cloudc", privateKey, note: "made on each VM from the key in its metadata"))
                clusters.append("""
                  gce:                                  # cloudc start gce
                    cloud: gce
                    login: gce
                    setup: slurm
                    image: projects/debian-cloud/global/images/family/debian-12
                    groups:
                      frontend: {count: 1, flavor: e2-standard-4}
                      compute: {count: 2, flavor: n2-standard-8}
                      gpu: {count: 0, flavor: n1-standard-8, gpus: {type: nvidia-tesla-t4, count: 1}, spot: true, disk_gb: 100}
                """)
            case .ec2:
                let aws = found.aws
                clouds.append("""
                  aws:
                    provider: ec2                       # Amazon EC2
                    region: \(aws?.region.map(quoted) ?? "us-east-1")\(aws?.region == nil ? "                   # TODO: your region" : "")
                \(aws?.profile.map { "    profile: \(quoted($0))" } ?? "    # profile: research               # an ~/.aws profile; default: AWS_* variables, AWS_PROFILE, [default]")
                    # \(aws.map { "found: \($0.source)" } ?? "no credentials found: run aws configure")
                """)
                logins.append(login("aws", user: "admin", privateKey, note: "Debian's AMIs log in as admin"))
                clusters.append("""
                  aws:                                  # cloudc start aws
                    cloud: aws
                    login: aws
                    setup: slurm
                    image: ami-0123456789abcdef0        # TODO: a Debian 12 AMI of your region: aws ec2 describe-images
                                                        #   --owners 136693071363 --filters 'Name=name,Values=debian-12-amd64-*'
                    groups:
                      frontend: {count: 1, flavor: t3.medium}
                      compute: {count: 2, flavor: c5.xlarge}
                      gpu: {count: 0, flavor: g4dn.xlarge, gpus: {count: 1}, spot: true}
                """)
            case .openstack:
                let openstack = found.openstack
                clouds.append("""
                  openstack:
                    provider: openstack
                \(openstack?.cloud.map { "    cloud: \(quoted($0))" } ?? "    # cloud: mycloud                  # a clouds.yaml entry; default: OS_CLOUD, else the OS_* variables")
                    # \(openstack.map { "found: \($0.source)" } ?? "no clouds.yaml or OS_* variables found: download clouds.yaml from your dashboard")
                    # network: private                  # default: the project's only network
                    # floating_ip_network: public       # give each node a floating IP from this external network
                """)
                logins.append(login("openstack", user: "debian", privateKey, note: "the image's login user"))
                clusters.append("""
                  openstack:                            # cloudc start openstack
                    cloud: openstack
                    login: openstack
                    setup: slurm
                    image: debian-12                    # TODO: an image of your cloud (openstack image list)
                    groups:
                      frontend: {count: 1, flavor: m1.small}     # TODO: flavors of your cloud (openstack flavor list)
                      compute: {count: 2, flavor: m1.large}
                """)
            }
        }
        return """
        # cloudc config, written by `cloudc init`. Every key is documented in config.example.yaml
        # (at the top of cloudc's source tree). Start a cluster with: cloudc start TEMPLATE

        clouds:
        \(clouds.joined(separator: "\n\n"))

        logins:
        \(logins.joined(separator: "\n"))

        setups:
          slurm:
            playbook: slurm                     # SLURM, munge, an NFS /home, CUDA where there are GPUs

        clusters:                               # the templates: cloudc start NAME
        \(clusters.joined(separator: "\n\n"))

        """
    }

    static func login(_ name: String, user: String, _ privateKey: String, note: String) -> String {
        "  \(name): {user: \(user), private_key: \(quoted(privateKey))}   # \(note)"
    }

    /// A YAML double-quoted scalar (JSON's string syntax, which YAML reads).
    static func quoted(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
    }
}
