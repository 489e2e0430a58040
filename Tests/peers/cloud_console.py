"""What a cloud VM's first boot leaves on its console, for the peers that hand it back
(EC2's GetConsoleOutput, Nova's os-getConsoleOutput): a kernel line, cloud-init's
keys_to_console block with the VM's SSH host keys, and cloud-init's closing line.

Only the standard library and ``cryptography``.
"""
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def new_host_key():
    """An ed25519 host key's public half as (type, base64), as `ssh-keygen -A` makes one."""
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    kind, key = line.split(" ")[:2]
    return kind, key


def boot_console(hostname, keys, datasource, columns=None):
    """The console of a Debian 12 cloud image's first boot, as cloud-init 22.4 writes it: the
    fingerprints through syslog (tagged `ec2:`, cloud-init's old name), then the keys raw. With
    `columns`, long lines are cut there and lines end in CR LF, as a serial console shows them."""
    stamp = time.strftime("%b %e %H:%M:%S", time.gmtime())
    lines = [
        "[    0.000000] Linux version 6.1.0-26-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1",
        f"[    9.120000] cloud-init[512]: Cloud-init v. 22.4.2 running 'init' at {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}. Up 9.10 seconds.",
        f"<14>{stamp} ec2: #############################################################",
        f"<14>{stamp} ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
    ]
    lines += [f"<14>{stamp} ec2: 256 SHA256:(fingerprint) root@{hostname} ({kind.split('-')[-1].upper()})" for kind, _ in keys]
    lines += [f"<14>{stamp} ec2: -----END SSH HOST KEY FINGERPRINTS-----",
              f"<14>{stamp} ec2: #############################################################",
              "-----BEGIN SSH HOST KEY KEYS-----"]
    lines += [f"{kind} {key} root@{hostname}" for kind, key in keys]
    lines += ["-----END SSH HOST KEY KEYS-----",
              f"[   21.500000] cloud-init[812]: Cloud-init v. 22.4.2 finished at "
              f"{time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}. Datasource {datasource}.  Up 21.50 seconds",
              "", f"Debian GNU/Linux 12 {hostname} ttyS0", "", f"{hostname} login: "]
    if columns is None:
        return "\n".join(lines)
    cut = []
    for line in lines:
        while len(line) > columns:
            cut.append(line[:columns])
            line = line[columns:]
        cut.append(line)
    return "\r\n".join(cut)
