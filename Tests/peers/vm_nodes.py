"""Nodes that boot like cloud VMs, for the cloud peers: each instance a systemd-nspawn machine with
its own systemd, sshd, hostname and root file system, booted from a stock Debian 12 image.

- The image is what a cloud's stock debian-12 has: systemd, openssh-server, sudo, ca-certificates,
  and none of what a SLURM setup installs. It is built once with debootstrap and shared read-only
  (each node writes to an overlay of its own).
- Nodes sit on a test bridge of their own, with an internal address (networkIP, private IP, fixed
  IP) and, where the instance has one, an external one (access config, floating IP), both from
  private ranges. This machine's end of the bridge has an address on the external network and,
  only where the cloud lets this machine into the internal one (`host_internal`), on that too: a
  node without an external address is then reachable only through one that has it.
- Only a node that "has internet" (an external or public address) gets to the outside world: the
  package cache on this machine, which its image names as its mirror (an apt proxy setting
  pointing at this machine's address on a network the node shares with it, as a cloud image
  names its cloud's mirror). No node has a route out; the others get no proxy setting either.
- A guest agent creates the users of the instance's SSH keys (with passwordless sudo) a delay
  after sshd accepts connections (seen from inside the node), as Google's guest agent and
  cloud-init do on a real VM; keys changed later are applied too.
- Deleting a node powers it off and removes it; a `poweroff` inside makes `state()` say so.
- GPU nodes carry NVIDIA device nodes (major 195) and an `nvidia-smi` that lists them.

Everything runs as root (nspawn, mounts, bridges). Used by gce_peer.py and openstack_peer.py with
--nodes, and by ec2_nodes.py.
"""
import fcntl
import ipaddress
import os
import shutil
import signal
import subprocess
import threading
import time

STOCK_PACKAGES = ["systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "sudo", "procps",
                  "ca-certificates", "passwd"]
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"


def log(message):
    print("[nodes] " + message, flush=True)


def run(*args, check=True, **kwargs):
    result = subprocess.run(list(args), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), result.returncode, result.stderr.strip()[-2000:]))
    return result


def stock_image(image_dir, name="debian-12-stock"):
    """The stock image's root, built once (under a lock, into a folder renamed into place when whole)."""
    path = os.path.join(image_dir, name)
    if os.path.exists(os.path.join(path, "etc", "os-release")):
        return path
    os.makedirs(image_dir, exist_ok=True)
    with open(os.path.join(image_dir, name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(path, "etc", "os-release")):
            return path
        staging = path + ".building"
        shutil.rmtree(staging, ignore_errors=True)
        log("building the stock image %s with debootstrap (a few minutes, once)" % name)
        run("debootstrap", "--variant=minbase", "--include=" + ",".join(STOCK_PACKAGES), SUITE, staging, MIRROR)
        # Per-VM identity is made at each node's first boot, not shared through the image.
        for entry in os.listdir(os.path.join(staging, "etc", "ssh")):
            if entry.startswith("ssh_host_"):
                os.unlink(os.path.join(staging, "etc", "ssh", entry))
        open(os.path.join(staging, "etc", "machine-id"), "w").close()
        # The mirror a cloud image names; the node's apt proxy setting sends it through the cache.
        with open(os.path.join(staging, "etc", "apt", "sources.list"), "w") as f:
            f.write("deb %s %s main\n" % (MIRROR, SUITE))
        # A VM's sshd starts at boot: enabled, as in a cloud image.
        run("chroot", staging, "systemctl", "enable", "ssh", "systemd-networkd", check=False)
        os.rename(staging, path)
        return path


class Bridge:
    """A test bridge with this machine's end of the networks it shares with the nodes."""

    def __init__(self, name, host_interfaces):
        self.name = name
        self.host_interfaces = [ipaddress.ip_interface(i) for i in host_interfaces]  # ["100.91.7.1/24"]

    def create(self):
        if run("ip", "link", "show", "dev", self.name, check=False).returncode != 0:
            run("ip", "link", "add", self.name, "type", "bridge")
        for interface in self.host_interfaces:
            run("ip", "addr", "replace", str(interface), "dev", self.name)
        run("ip", "link", "set", self.name, "up")

    def remove(self):
        run("ip", "link", "del", self.name, check=False)

    def host_address(self, address):
        """This machine's address on the network of `address`, or None where it has none there."""
        if not address:
            return None
        address = ipaddress.ip_address(address)
        return next((str(i.ip) for i in self.host_interfaces if address in i.network), None)


class Node:
    def __init__(self, backend, name, internal_ip, external_ip, gpus, ssh_keys, internet, folder=None):
        self.backend = backend
        self.name = name
        self.internal_ip = internal_ip
        self.external_ip = external_ip
        self.internet = internet  # the apt proxy setting: a public or external address
        self.gpus = gpus
        self.ssh_keys = ssh_keys  # the `ssh-keys` metadata value: "user:key" lines
        self.folder = os.path.join(backend.root, folder or name)
        self.root = os.path.join(self.folder, "root")
        self.process = None
        self.deleted = False
        self.applied_keys = None
        self.changed = threading.Event()
        self.sshd_answered = threading.Event()  # from then on its host keys are "on its console"
        self.lock = threading.Lock()
        self.boot_lock = threading.Lock()  # the root's files are written by one at a time

    # Boot

    def boot(self):
        with self.boot_lock:
            if not self.deleted:
                self._boot()

    def _boot(self):
        for sub in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.folder, sub), exist_ok=True)
        run("mount", "-t", "overlay", "overlay", "-o",
            "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (self.backend.image, self.folder, self.folder), self.root)
        self.write("etc/hostname", self.name + "\n")
        self.write("etc/hosts", "127.0.0.1\tlocalhost\n%s\t%s\n" % (self.internal_ip, self.name))
        self.write_network()
        self.write("etc/machine-id", os.urandom(16).hex() + "\n")
        self.write_mirror()
        run("ssh-keygen", "-A", "-f", self.root)
        self.prepare()
        log_file = open(os.path.join(self.folder, "nspawn.log"), "w")
        # A machine name of this boot alone: nspawn names the bridge's veth after it, and the veth of
        # a node just removed may linger a moment (a later node may have its name and address).
        machine = "vm-%s-%s-%s" % (self.backend.tag, self.name[:50 - len(self.backend.tag)], os.urandom(3).hex())
        self.cgroups, enter = own_cgroups(machine)
        self.process = subprocess.Popen(
            ["systemd-nspawn", "--boot", "--directory=" + self.root, "--machine=" + machine,
             "--hostname=" + self.name, "--network-bridge=" + self.backend.bridge.name,
             "--bind=%s:/home" % self.backend.home, "--register=no", "--keep-unit", "--console=passive"],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=enter)
        threading.Thread(target=self.agent, daemon=True).start()

    def prepare(self):
        """A subclass's own changes to the node's root, made after the files above and before it boots."""

    def write_network(self):
        addresses = "".join("Address=%s\n" % self.backend.interface(a) for a in (self.internal_ip, self.external_ip) if a)
        self.write("etc/systemd/network/10-vm.network",
                   "[Match]\nName=host0\n\n[Network]\n%sLinkLocalAddressing=no\nIPv6AcceptRA=no\n" % addresses)

    def write_mirror(self):
        """The apt proxy setting of a node with internet: this machine's address on the first network
        the node shares with it (internal, else external). Without internet: none."""
        path = os.path.join(self.root, "etc", "apt", "apt.conf.d", "00mirror")
        host = next(filter(None, map(self.backend.bridge.host_address, (self.internal_ip, self.external_ip))), None)
        if self.internet and self.backend.cache_port and host:
            self.write("etc/apt/apt.conf.d/00mirror", 'Acquire::http::Proxy "http://%s:%d/";\n' % (host, self.backend.cache_port))
        else:
            if self.internet and self.backend.cache_port:
                log("%s has internet but shares no network with this machine: no apt proxy" % self.name)
            if os.path.lexists(path):
                os.unlink(path)

    def set_external_ip(self, external_ip, internet=None):
        """Adds, replaces or removes (None) the external address of a running node (a floating IP
        associated or let go); the node has internet while it has one, unless `internet` says."""
        with self.boot_lock:
            old, self.external_ip = self.external_ip, external_ip
            self.internet = bool(external_ip) if internet is None else internet
            if old == external_ip or self.process is None or self.deleted:
                return  # not booted yet: the boot writes them
            self.write_network()
            self.write_mirror()
            script = ""
            if old:
                script += "ip addr del %s dev host0 2>/dev/null; " % self.backend.interface(old)
            if external_ip:
                script += "ip addr replace %s dev host0" % self.backend.interface(external_ip)
            if self.state() == "running":
                result = self.inside(script or "true")
                if result.returncode != 0:
                    log("%s: external address %s: %s" % (self.name, external_ip, result.stderr.strip()))
            # This machine forgets the MAC it knew the addresses at (a floating IP moves between nodes).
            for address in filter(None, (old, external_ip)):
                run("ip", "neigh", "flush", "dev", self.backend.bridge.name, "to", address, check=False)
        log("%s: external address %s" % (self.name, external_ip or "removed"))

    def write(self, relative, text):
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.islink(path):
            os.unlink(path)
        with open(path, "w") as f:
            f.write(text)

    def host_keys(self):
        """[(type, base64)] of the node's own host keys, as its guest agent publishes them."""
        keys = []
        for kind in ("ed25519", "ecdsa", "rsa"):
            path = os.path.join(self.folder, "upper", "etc", "ssh", "ssh_host_%s_key.pub" % kind)
            try:
                fields = open(path).read().split()
            except OSError:
                continue
            if len(fields) >= 2:
                keys.append((fields[0], fields[1]))
        return keys

    def init_pid(self):
        """The node's own init: the child of its systemd-nspawn."""
        if not self.process or self.process.poll() is not None:
            return None
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = open("/proc/%s/stat" % entry).read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == self.process.pid:
                return int(entry)
        return None

    def signal_init(self, number):
        pid = self.init_pid()
        if pid:
            try:
                os.kill(pid, number)
            except OSError:
                pass

    def inside(self, script):
        pid = self.init_pid()
        if pid is None:
            raise RuntimeError("node %s is not running" % self.name)
        # The node's mount namespace (and so its root file system), network, hostname and IPC.
        return run("nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-r", "-w", "--", "/bin/sh", "-c", script, check=False)

    # The guest agent

    def agent(self):
        try:
            self.wait_for_sshd()
            self.sshd_answered.set()
            delay = self.backend.user_delay
            if delay:
                time.sleep(delay)
            if self.gpus:
                self.add_gpus()
            while not self.deleted and self.state() == "running":
                with self.lock:
                    keys = self.ssh_keys
                if keys != self.applied_keys:
                    self.apply_keys(keys)
                    self.applied_keys = keys
                self.changed.wait(1)
                self.changed.clear()
        except Exception as error:  # the node went away under the agent
            if not self.deleted:
                log("guest agent of %s stopped: %s" % (self.name, error))

    def wait_for_sshd(self):
        """Until sshd answers on the node's own loopback: this machine may have no address on the
        node's networks."""
        deadline = time.time() + 300
        probe = "timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/22 && head -c 4 <&3' 2>/dev/null"
        while time.time() < deadline and not self.deleted and self.state() != "terminated":
            try:
                if self.inside(probe).stdout.startswith("SSH-"):
                    return
            except RuntimeError:  # its init has not started yet
                pass
            time.sleep(0.3)
        raise RuntimeError("sshd of %s never answered" % self.name)

    def apply_keys(self, keys):
        for line in (keys or "").splitlines():
            user, _, key = line.partition(":")
            user = user.strip()
            if not user or not key.strip() or not user.replace("-", "").replace("_", "").isalnum():
                continue
            script = (
                "id -u {u} >/dev/null 2>&1 || useradd -M -s /bin/bash {u}; "
                "[ -d /home/{u} ] || {{ mkdir -p /home/{u}; cp -rT /etc/skel /home/{u}; chown -R {u}: /home/{u}; }}; "
                "echo '{u} ALL=(ALL:ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-vm-{u}; chmod 0440 /etc/sudoers.d/90-vm-{u}; "
                "h=$(getent passwd {u} | cut -d: -f6); mkdir -p $h/.ssh; "
                "grep -qxF '{k}' $h/.ssh/authorized_keys 2>/dev/null || echo '{k}' >> $h/.ssh/authorized_keys; "
                "chmod 700 $h/.ssh; chmod 600 $h/.ssh/authorized_keys; chown -R {u}: $h/.ssh"
            ).format(u=user, k=key.strip().replace("'", ""))
            result = self.inside(script)
            if result.returncode != 0:
                log("guest agent of %s: user %s: %s" % (self.name, user, result.stderr.strip()))
            else:
                log("guest agent of %s: user %s can log in" % (self.name, user))

    def add_gpus(self):
        script = " && ".join("{ [ -e /dev/nvidia%d ] || mknod -m 666 /dev/nvidia%d c 195 %d; }" % (i, i, i)
                             for i in range(self.gpus))
        smi = "#!/bin/sh\\n" + "".join("echo %d\\n" % i for i in range(self.gpus))
        self.inside(script + " && printf '%s' > /usr/local/bin/nvidia-smi && chmod +x /usr/local/bin/nvidia-smi" % smi)

    # Life

    def state(self):
        if self.deleted:
            return "deleted"
        if self.process is None:
            return "staging"
        return "running" if self.process.poll() is None else "terminated"

    def set_ssh_keys(self, keys):
        with self.lock:
            self.ssh_keys = keys
        self.changed.set()

    def remove(self):
        self.deleted = True
        self.changed.set()
        with self.boot_lock:
            pass  # a boot under way has started the node (or sees `deleted` and does not)
        if self.process and self.process.poll() is None:
            deadline = time.time() + 15
            while self.process.poll() is None and time.time() < deadline:
                # systemd: power off. Again each second: a systemd still starting has not heard it.
                self.signal_init(signal.SIGRTMIN + 4)
                try:
                    self.process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
            if self.process.poll() is None:
                # The node's init first: its whole PID namespace goes with it, which a killed nspawn
                # would leave running.
                self.signal_init(signal.SIGKILL)
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        run("umount", "-l", self.root, check=False)
        remove_cgroups(getattr(self, "cgroups", []))
        shutil.rmtree(self.folder, ignore_errors=True)


def cgroup_hierarchies():
    """Where the cgroup hierarchies systemd uses are mounted: cgroup2, and a v1 name=systemd."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            fstype, options = fields[dash + 1], fields[dash + 3].split(",")
            if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options):
                found.append(fields[4].replace("\\040", " "))
    return found


def own_cgroups(machine):
    """A cgroup of the node's own in each hierarchy. systemd-nspawn without a scope of its own
    (--register=no --keep-unit) puts the container's systemd in payload/ under the cgroup it was
    started in: nodes started by one peer would share it, and each node's systemd would manage
    the others' services (one node restarting munge killed munge on the rest). Returns the paths
    and a function that moves the calling process into them (for Popen's preexec_fn)."""
    paths = [os.path.join(h, "cloudc-peer", machine) for h in cgroup_hierarchies()]

    def enter():
        for path in paths:
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    return paths, enter


def remove_cgroups(paths, timeout=5):
    """Removes the node's cgroups, deepest first, once nothing runs in them, then cloudc-peer/ if empty."""
    deadline = time.time() + timeout
    for path in paths:
        while os.path.isdir(path):
            for folder, _, _ in sorted(os.walk(path), key=lambda entry: -entry[0].count("/")):
                try:
                    os.rmdir(folder)
                except OSError:
                    pass
            if not os.path.isdir(path) or time.time() > deadline:
                break
            time.sleep(0.1)
        try:
            os.rmdir(os.path.dirname(path))  # cloudc-peer/, once no node is left in it
        except OSError:
            pass


class Backend:
    """The nodes of one peer: a bridge, a shared /home, a stock image, the nodes by name.

    `internal` and `external` are the nodes' networks ("10.91.7.0/24"; external may be None). This
    machine takes the first host address (.1) of the external network and, with `host_internal`,
    of the internal one; a peer keeps those addresses out of what it hands out."""

    def __init__(self, root, image_dir, tag, cache_port, user_delay, internal, external=None, host_internal=True):
        self.root = os.path.join(root, "nodes")
        self.home = os.path.join(root, "home")
        self.tag = tag
        self.cache_port = cache_port
        self.user_delay = user_delay
        self.image = stock_image(image_dir)
        self.internal = ipaddress.ip_network(internal)
        self.external = ipaddress.ip_network(external) if external else None
        host_networks = ([self.internal] if host_internal else []) + ([self.external] if self.external else [])
        self.bridge = Bridge("ccvm-" + tag, ["%s/%d" % (next(n.hosts()), n.prefixlen) for n in host_networks])
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(self.home, exist_ok=True)
        self.bridge.create()
        self.nodes = {}
        self.lock = threading.Lock()
        self.next_host = 10

    def interface(self, address):
        """`address` with the prefix length of the node network it is on."""
        ip = ipaddress.ip_address(address)
        network = next((n for n in (self.internal, self.external) if n and ip in n), None)
        return "%s/%d" % (ip, network.prefixlen if network else 24)

    def addresses(self, external):
        """An internal address and, with `external`, an external one, both ending in the same number."""
        with self.lock:
            host = self.next_host
            self.next_host += 1
        return (str(self.internal.network_address + host),
                str(self.external.network_address + host) if external and self.external else None)

    def create(self, key, hostname, internal_ip, external_ip, gpus, ssh_keys, internet=None, folder=None):
        """Boots a node in the background. `internet` (default: whether it has an external address):
        whether it gets the apt proxy setting. `folder`: its folder's name under nodes/ (default: the
        hostname; give a unique one where names may repeat)."""
        node = Node(self, hostname, internal_ip, external_ip, gpus, ssh_keys,
                    bool(external_ip) if internet is None else internet, folder)
        with self.lock:
            self.nodes[key] = node
        threading.Thread(target=self._boot, args=(node,), daemon=True).start()
        return node

    def _boot(self, node):
        try:
            node.boot()
            log("booted %s at %s%s%s" % (node.name, node.internal_ip, " and " + node.external_ip if node.external_ip else "",
                                         ", with internet" if node.internet else ""))
        except Exception as error:
            log("cannot boot %s: %s" % (node.name, error))

    def get(self, key):
        with self.lock:
            return self.nodes.get(key)

    def delete(self, key):
        with self.lock:
            node = self.nodes.pop(key, None)
        if node:
            node.remove()

    def shutdown(self):
        with self.lock:
            nodes = list(self.nodes.values())
            self.nodes.clear()
        threads = [threading.Thread(target=node.remove) for node in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.bridge.remove()
        shutil.rmtree(self.root, ignore_errors=True)
