import Testing

/// What a test needs beyond this process, so the fast tier can leave it out:
/// `swift test --skip 'tag:…'` (scripts/test.sh --unit).
extension Tag {
    /// Root: network namespaces, bridges, systemd-nspawn nodes, mounts.
    @Tag public static var root: Self
    /// A peer process: sshd, moto_server, Keystone, the GCE or OpenStack peer, a fake SLURM.
    @Tag public static var peer: Self
    /// A cluster of local nodes booted on this machine.
    @Tag public static var localCluster: Self
    /// Minutes of work (a 30,000-task grid): run on its own.
    @Tag public static var long: Self
}
