import Providers
import Testing

/// Which cgroup hierarchies a node is moved into before systemd-nspawn starts, read from
/// /proc/self/mountinfo as the kernel writes it.
@Suite struct NodeCgroupTests {
    @Test func aHybridHostGivesTheUnifiedAndTheNamedSystemdHierarchy() {
        let mountinfo = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:11 master:2 - cgroup cgroup rw,xattr,name=systemd
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
            """
        #expect(NodeCgroup.hierarchies(mountinfo: mountinfo) == ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"])
    }

    @Test func aUnifiedHostGivesItsOneHierarchyAndNamesAreUnescaped() {
        let mountinfo = """
            22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw
            26 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
            90 22 0:50 / /srv/my\\040cgroups rw,relatime - cgroup2 none rw
            91 22 0:51 / /srv/not-systemd rw,relatime - cgroup none rw,name=other
            """
        #expect(NodeCgroup.hierarchies(mountinfo: mountinfo) == ["/sys/fs/cgroup", "/srv/my cgroups"])
        #expect(NodeCgroup.relativePath("cc1f41b7c050") == "cloudc/cc1f41b7c050")
    }
}
