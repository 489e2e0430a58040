#!/usr/bin/env python3
"""moto_server (a local EC2), with one answer made the way real EC2 gives it.

moto answers GetConsoleOutput for every instance with the same 2006 kernel log. Real EC2 hands
back the instance's own console, where cloud-init prints the instance's SSH host keys near the
end of its first boot. Here each running instance gets an ed25519 host key of its own and a
console with cloud-init's block (Tests/peers/cloud_console.py), cut at 80 columns with CR LF
ends, as EC2's serial console shows it; a pending instance's console is still empty (EC2 leaves
`output` out). Everything else is moto's, unchanged.

Each instance's host keys are also written to MOTO_PEER_HOST_KEYS/<instance-id> (`type base64`
lines), so tests can compare what cloudc pinned with what the instance "has".

With MOTO_PEER_KEYS_FROM_NODES=1 the keys are not made here but read from that file, which
ec2_nodes.py writes with the host keys of the VM-like node behind the instance once its sshd
answers; until then the console is empty, as while cloud-init has not printed them.

usage: moto_peer.py [moto_server's options: -H HOST -p PORT]
"""
import os
import sys
import threading

from moto import server
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.responses import general
from moto.ec2.utils import Base64EncodedString

from cloud_console import boot_console, new_host_key

KEYS_DIR = os.environ.get("MOTO_PEER_HOST_KEYS")
FROM_NODES = bool(KEYS_DIR) and os.environ.get("MOTO_PEER_KEYS_FROM_NODES") == "1"
lock = threading.Lock()
host_keys = {}


def keys_of(instance_id):
    with lock:
        if instance_id not in host_keys and FROM_NODES:
            try:
                with open(os.path.join(KEYS_DIR, instance_id)) as f:
                    keys = [tuple(line.split()[:2]) for line in f if len(line.split()) >= 2]
            except OSError:
                keys = []
            if not keys:
                return None  # its node's sshd has not answered yet
            host_keys[instance_id] = keys
        if instance_id not in host_keys:
            host_keys[instance_id] = [new_host_key()]
            if KEYS_DIR:
                os.makedirs(KEYS_DIR, exist_ok=True)
                with open(os.path.join(KEYS_DIR, instance_id), "w") as f:
                    f.writelines(f"{kind} {key}\n" for kind, key in host_keys[instance_id])
        return host_keys[instance_id]


def get_console_output(self):
    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
    result = {"InstanceId": instance.id, "Timestamp": utcnow()}
    keys = keys_of(instance.id) if instance.state != "pending" else None
    if keys:
        hostname = "ip-" + (instance.private_ip or "10.0.0.1").replace(".", "-")
        console = boot_console(hostname, keys, "DataSourceEc2Local", columns=80)
        result["Output"] = Base64EncodedString.from_raw_string(console)
    return ActionResult(result)


general.General.get_console_output = get_console_output

if __name__ == "__main__":
    server.main(sys.argv[1:])
