#!/usr/bin/env python3
"""Machines a researcher already has, for cloudc's `provider: ssh`: VM-like nodes (vm_nodes.py:
systemd-nspawn machines booted from the stock Debian 12 image) that no cloud API stands behind.

``ssh_hosts.py --nodes DIR/vm --home DIR/home --key DIR/id_ed25519 --node-subnet N --host NAME[:PORT] ...``
    Boots one node per --host on the bridge ccvm-TAG, where this machine is 10.94.N.1 and the nodes
    are 10.94.N.11, .12, … in the order given, each with its own root file system and hostname and
    sshd on PORT (default 22). They are what a lab's machines are, already set up before cloudc
    comes: the login user (--user, default researcher) exists from the first boot with passwordless
    sudo and the key's public half (KEY.pub) in its authorized_keys; /home is the one folder --home
    on every node (as an NFS /home is); every node has "internet", an apt proxy setting for the
    package cache on this machine (--package-cache-port). No guest agent acts on them later.

    Once every node answers SSH as the user (host key checked) and `sudo -n true` works there, it
    writes --known-hosts (OpenSSH format: `ADDRESS KEY`, `[ADDRESS]:PORT KEY` off port 22), a
    baseline per node to --baseline/NAME.txt (`hosts_sha256`, `hostname_file_sha256`, `hostname`:
    what a test checks the machines are left with) and then --ready-file, JSON
    {NAME: {"address", "port", "folder"}} renamed into place. It stays in the foreground; TERM or
    INT powers the nodes off and removes them and the bridge.
"""
import argparse
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm_nodes  # noqa: E402

UID = 1000  # the same on every node: they share /home


def log(message):
    print(time.strftime("%H:%M:%S ") + "[ssh-hosts] " + message, flush=True)


class Host(vm_nodes.Node):
    """A node that is someone's machine already: its user, sudo and sshd port are in its root from
    the first boot, and no guest agent comes later."""

    def __init__(self, backend, name, address, port, user):
        super().__init__(backend, name, address, None, 0, None, True)
        self.port = port
        self.user = user

    def prepare(self):
        if self.port != 22:
            self.write("etc/ssh/sshd_config.d/50-port.conf", "Port %d\n" % self.port)
        vm_nodes.run("chroot", self.root, "useradd", "--no-create-home", "--uid", str(UID), "--user-group",
                     "--shell", "/bin/bash", "--home-dir", "/home/" + self.user, self.user)
        self.write("etc/sudoers.d/90-" + self.user, "%s ALL=(ALL:ALL) NOPASSWD:ALL\n" % self.user)
        os.chmod(os.path.join(self.root, "etc", "sudoers.d", "90-" + self.user), 0o440)

    def agent(self):
        pass

    def known_hosts(self):
        name = self.internal_ip if self.port == 22 else "[%s]:%d" % (self.internal_ip, self.port)
        return "".join("%s %s %s\n" % (name, kind, key) for kind, key in self.host_keys())

    def baseline(self):
        result = self.inside("sha256sum /etc/hosts /etc/hostname && hostname")
        if result.returncode != 0:
            raise RuntimeError("baseline of %s: %s" % (self.name, result.stderr.strip()))
        lines = result.stdout.splitlines()
        return "hosts_sha256 %s\nhostname_file_sha256 %s\nhostname %s\n" % (
            lines[0].split()[0], lines[1].split()[0], lines[2].strip())


def make_home(home, image, user, public_key):
    """The user's home in the shared /home, as a lab's NFS home already holds it."""
    path = os.path.join(home, user)
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o755)
    if not os.path.isdir(path):
        shutil.copytree(os.path.join(image, "etc", "skel"), path)
    os.makedirs(os.path.join(path, ".ssh"), exist_ok=True)
    with open(os.path.join(path, ".ssh", "authorized_keys"), "w") as f:
        f.write(public_key.strip() + "\n")
    os.chmod(path, 0o755)
    os.chmod(os.path.join(path, ".ssh"), 0o700)
    os.chmod(os.path.join(path, ".ssh", "authorized_keys"), 0o600)
    for root, dirs, files in os.walk(path):
        for entry in [root] + [os.path.join(root, e) for e in dirs + files]:
            os.lchown(entry, UID, UID)


def wait_for_login(host, key, known_hosts, user, deadline):
    """Until the user logs in over SSH (host key checked against known_hosts) and may sudo."""
    command = ["ssh", "-i", key, "-p", str(host.port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
               "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known_hosts,
               "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "%s@%s" % (user, host.internal_ip), "sudo -n true && hostname"]
    last = ""
    while time.time() < deadline:
        if host.process is None:
            raise RuntimeError("%s did not boot" % host.name)
        if host.state() == "terminated":
            raise RuntimeError("%s powered off while booting (see its nspawn.log)" % host.name)
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
        if result.returncode == 0 and result.stdout.strip() == host.name:
            return
        last = (result.stderr or result.stdout).strip()
        time.sleep(0.3)
    raise RuntimeError("%s did not let %s in over SSH at %s:%d: %s" % (host.name, user, host.internal_ip, host.port, last))


def write_whole(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", required=True, help="the nodes' files go in this folder")
    parser.add_argument("--node-images", default="/var/lib/cloudc/vm-images", help="where the stock image is built, once")
    parser.add_argument("--node-tag", default="ssh", help="names the nodes' bridge (ccvm-TAG)")
    parser.add_argument("--node-subnet", type=int, default=7, help="the nodes' network: 10.94.N.0/24")
    parser.add_argument("--home", required=True, help="the folder every node has as /home")
    parser.add_argument("--host", action="append", required=True, help="NAME or NAME:PORT (sshd's port, default 22)")
    parser.add_argument("--user", default="researcher")
    parser.add_argument("--key", required=True, help="the user's private key; KEY.pub goes to its authorized_keys")
    parser.add_argument("--package-cache-port", type=int, help="the package cache, the nodes' apt proxy")
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("--baseline", required=True, help="a folder: NAME.txt per node")
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--timeout", type=float, default=300, help="seconds for every node to let the user in")
    args = parser.parse_args()

    network = ipaddress.ip_network("10.94.%d.0/24" % args.node_subnet)
    backend = vm_nodes.Backend(args.nodes, args.node_images, args.node_tag, args.package_cache_port, 0,
                               internal=str(network), host_internal=True)
    backend.home = os.path.abspath(args.home)
    stopping = threading.Event()

    def shut_down(*_, code=0):
        stopping.set()
        backend.shutdown()
        os._exit(code)
    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)

    with open(args.key + ".pub") as f:
        make_home(backend.home, backend.image, args.user, f.read())
    hosts = []
    for number, spec in enumerate(args.host):
        name, _, port = spec.partition(":")
        host = Host(backend, name, str(network.network_address + 11 + number), int(port or 22), args.user)
        with backend.lock:
            backend.nodes[name] = host
        hosts.append(host)
    threads = [threading.Thread(target=backend._boot, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    write_whole(args.known_hosts, "".join(host.known_hosts() for host in hosts))
    deadline = time.time() + args.timeout
    try:
        for host in hosts:
            wait_for_login(host, args.key, args.known_hosts, args.user, deadline)
            log("%s lets %s in at %s port %d" % (host.name, args.user, host.internal_ip, host.port))
        os.makedirs(args.baseline, exist_ok=True)
        for host in hosts:
            write_whole(os.path.join(args.baseline, host.name + ".txt"), host.baseline())
    except Exception as error:
        log(str(error))
        shut_down(code=1)
    write_whole(args.ready_file, json.dumps({host.name: {"address": host.internal_ip, "port": host.port,
                                                         "folder": host.folder} for host in hosts}, indent=1) + "\n")
    log("ready: %s on ccvm-%s, this machine at %s" % (", ".join(h.name for h in hosts), args.node_tag,
                                                      next(network.hosts())))
    while not stopping.is_set():
        stopping.wait(1)


if __name__ == "__main__":
    main()
