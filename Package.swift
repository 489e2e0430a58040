// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "cloudc",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cloudc", targets: ["cloudc"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
    ],
    targets: [
        // Value types every other module speaks: specs, state records, errors, the provider protocol.
        .target(name: "CloudcCore"),
        // YAML config → validated ClusterSpec, with file:line:column errors.
        .target(name: "Config", dependencies: [
            "CloudcCore",
            .product(name: "Yams", package: "Yams"),
        ]),
        // Pure planning of start / resize / stop: (spec, state, observed) → actions. No I/O.
        .target(name: "Planner", dependencies: ["CloudcCore"]),
        // The cluster state files: atomic, locked, schema-versioned JSON.
        .target(name: "State", dependencies: ["CloudcCore"]),
        // HTTP transport, request signing and one implementation of CloudProvider per cloud.
        .target(name: "Providers", dependencies: [
            "CloudcCore", "SSH",                                         // own machines: checks and undo over SSH
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),   // RSA for Google's RS256 JWTs
            .product(name: "Yams", package: "Yams"),                     // OpenStack's clouds.yaml
        ]),
        // libssh2 for Swift: its headers, plus inline wrappers for the macros Swift cannot import.
        .systemLibrary(name: "CLibSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        // SSH to the nodes: pinned host keys, key authentication, commands and atomic uploads.
        .target(name: "SSH", dependencies: ["CloudcCore", "CLibSSH2"]),
        // Runs playbooks of templates and commands on a cluster's nodes over SSH (the SLURM setup).
        .target(name: "Configurator", dependencies: [
            "CloudcCore", "SSH",
            .product(name: "Yams", package: "Yams"),
        ]),
        // Runs experiments on a cluster: parameter grids, the slurm and local executors, harvesting.
        .target(name: "Executors", dependencies: [
            "CloudcCore", "SSH",
            .product(name: "Crypto", package: "swift-crypto"),   // SHA-256 of work files: upload only what changed
        ]),
        // Hands a cluster to other tools: ssh_config, ClusterJob, Ansible inventory, JSON; the ~/.ssh/config Include line.
        .target(name: "Export", dependencies: ["CloudcCore"]),
        // Runs start / stop: planner decisions carried out through a provider, every step recorded in the state.
        .target(name: "Lifecycle", dependencies: ["CloudcCore", "Planner", "State"]),
        // The use cases (start with its setup, setup, resize, stop, the deployed slurm.conf; submit, jobs,
        // harvest), each one
        // function of plain inputs; clouds come in as factories, what the user sees goes out as events.
        .target(name: "Operations", dependencies: ["CloudcCore", "Planner", "State", "Lifecycle", "SSH", "Configurator", "Executors"]),
        // The command line: parses arguments, wires the concrete parts together, prints.
        .target(name: "CloudcCLI", dependencies: [
            "CloudcCore", "Config", "Planner", "State", "Providers", "Lifecycle", "SSH", "Configurator", "Executors", "Export",
            "Operations",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The executable: a few lines that call CloudcCLI.
        .executableTarget(name: "cloudc", dependencies: ["CloudcCLI"]),

        // Test helpers: peers (moto_server, the GCE and OpenStack peers, sshd), temporary directories, processes.
        .target(name: "TestSupport", dependencies: ["CloudcCore"], path: "Tests/TestSupport"),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "TestSupport"]),
        .testTarget(name: "PlannerTests", dependencies: ["Planner"]),
        // The lifecycle and the operations against a cloud in memory that crashes where told: resume cases in milliseconds.
        .testTarget(name: "LifecycleTests", dependencies: ["Lifecycle", "Operations", "State", "CloudcCore", "TestSupport"]),
        .testTarget(name: "StateTests", dependencies: ["State", "TestSupport"]),
        .testTarget(name: "ProvidersTests", dependencies: [
            "Providers", "TestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .testTarget(name: "SSHTests", dependencies: ["SSH", "TestSupport"]),
        // The local GCE peer itself (Tests/peers/gce_peer.py), checked before cloudc is tested against it.
        .testTarget(name: "GCEPeerTests", dependencies: ["TestSupport"]),
        // The local OpenStack (a real Keystone and Tests/peers/openstack_peer.py), checked before cloudc is tested against it.
        .testTarget(name: "OpenStackPeerTests", dependencies: ["TestSupport"]),
        .testTarget(name: "ExecutorsTests", dependencies: ["Executors", "SSH", "TestSupport", "CLITestSupport"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "TestSupport"]),
        .testTarget(name: "ConfiguratorTests", dependencies: ["Configurator", "SSH", "TestSupport"]),
        // Runs cloudc in-process as a user would, in a home directory of its own.
        .target(name: "CLITestSupport", dependencies: ["CloudcCLI", "TestSupport"], path: "Tests/CLITestSupport"),
        // cloudc as typed into bash and zsh: the built binary, the README's and help's examples, init.
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "EC2Tests", dependencies: ["CLITestSupport", "CloudcCLI", "Config", "Providers", "State", "Lifecycle", "TestSupport"]),
        // cloudc on gce clouds, run as a user would.
        .testTarget(name: "GCETests", dependencies: ["CLITestSupport", "TestSupport"]),
        // cloudc on openstack clouds, run as a user would: a real Keystone and the local Nova/Neutron/Glance peer.
        .testTarget(name: "OpenStackTests", dependencies: ["CLITestSupport", "TestSupport"]),
        // Need root: boot systemd-nspawn nodes on this machine.
        .testTarget(name: "LocalProviderTests", dependencies: ["CloudcCLI", "Providers", "TestSupport"]),
        .testTarget(name: "LocalClusterTests", dependencies: ["CLITestSupport", "CloudcCore", "State", "TestSupport"]),
    ]
)
