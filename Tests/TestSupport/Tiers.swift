import Foundation
import Testing

/// The test tiers. `scripts/test.sh --unit` runs every target with `CLOUDC_TEST_TIER=unit`, and
/// the suites marked with one of these traits then skip themselves, saying what they need; the
/// rest need nothing but this process and files in temporary folders. CI runs everything.
public enum TestTier {
    public static var isUnit: Bool { ProcessInfo.processInfo.environment["CLOUDC_TEST_TIER"] == "unit" }
}

extension Trait where Self == ConditionTrait {
    /// Needs root: network namespaces, bridges, systemd-nspawn nodes, mounts, an image built with debootstrap.
    public static var needsRoot: Self {
        .disabled(if: TestTier.isUnit, "needs root (namespaces, bridges, nspawn nodes, mounts): not in the unit tier")
    }
    /// Needs a peer process: sshd, moto_server, Keystone, the GCE or OpenStack peer.
    public static var needsPeer: Self {
        .disabled(if: TestTier.isUnit, "needs a peer (sshd, moto_server, Keystone, the GCE or OpenStack peer): not in the unit tier")
    }
    /// Needs files fetched from outside (the AWS SigV4 test vectors).
    public static var needsDownload: Self {
        .disabled(if: TestTier.isUnit, "needs downloaded test vectors: not in the unit tier")
    }
    /// Minutes of work (a 30,000-task grid); the full run gives it the machine to itself.
    public static var long: Self {
        .disabled(if: TestTier.isUnit, "takes minutes: not in the unit tier")
    }
}
