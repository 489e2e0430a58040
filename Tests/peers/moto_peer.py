#!/usr/bin/env python3
"""moto_server (a local EC2), with one answer made the way real EC2 gives it, and the AWS Price
List Query API's GetProducts, which moto lacks.

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

``GET /_peer/requests`` (this peer's, not moto's; no signature needed, and not counted itself)
counts the API calls moto received, so a test can check that a dry run made no mutating call:
``{"mutating": N, "total": M, "actions": {"RunInstances": 2, ...}}``. EC2 speaks the Query
protocol: each call's ``Action`` is read from the form body or the query string (a JSON-protocol
call's from ``X-Amz-Target``). An action is mutating unless its name starts with ``Describe``,
``Get`` or ``List``; one with ``DryRun=true`` counts too (a dry run must not even try). A call is
counted as it arrives, before moto checks its signature and IAM policy: one that is refused was
still made. Every service moto serves is counted, IAM included (moto_setup.py's CreateUser,
PutUserPolicy and CreateAccessKey; ec2_nodes.py's calls), so tests compare counts before and
after, or reset them first. A request without an Action counts as ``"METHOD (no Action)"``,
mutating unless GET or HEAD; ``/moto-api/...`` (moto's own control API) is not counted.
``POST /_peer/requests/reset`` sets the counts to zero and answers with what they were.

``POST /_peer/instances/<instance-id>/guest-poweroff`` (no signature; not counted) says that the
instance's guest powered itself off (``systemctl poweroff`` inside; ec2_nodes.py calls it when an
instance's node does). As EC2 does, by the instance's InstanceInitiatedShutdownBehavior (moto keeps
RunInstances' value, "stop" by default): "stop" makes it ``stopping`` (64), then ``stopped`` (80);
"terminate" makes it ``shutting-down`` (32), then ``terminated`` (48), MOTO_PEER_SHUTDOWN_SECONDS
(default 2) later. The last step is moto's own stop or terminate of the instance (and, for a
terminate, what moto's TerminateInstances tells Auto Scaling and ELBv2), so every API agrees: a
stopped instance loses its auto-assigned public IP; a terminated one its network interfaces and
EBS volumes with DeleteOnTermination. DisableApiStop and DisableApiTermination do not apply, as on
EC2 (they guard the API only). StateReason is ``Client.InstanceInitiatedShutdown`` from the first
step on. Answers 202 with ``{"instance", "behavior", "state"}``; 404 for an unknown instance; 409
for one that is not pending or running.

A request whose ``X-Amz-Target`` starts with ``AWSPriceListService.`` (the ``pricing`` service,
JSON 1.1, SigV4 with moto's IAM keys) is counted as above (GetProducts is not mutating), then
answered by aws_pricing.py from aws_price_list.py's EC2 products, not by moto: same host and port,
so a client's endpoint serves both EC2 and its prices.

usage: moto_peer.py [moto_server's options: -H HOST -p PORT]
"""
import io
import json
import os
import re
import sys
import threading
import time
import urllib.parse

from moto import server
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import StateReason
from moto.ec2.responses import general
from moto.ec2.utils import Base64EncodedString

import aws_pricing
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


SHUTDOWN_SECONDS = float(os.environ.get("MOTO_PEER_SHUTDOWN_SECONDS", "2"))
INSTANCE_INITIATED = ("Client.InstanceInitiatedShutdown: Instance initiated shutdown", "Client.InstanceInitiatedShutdown")
# InstanceInitiatedShutdownBehavior → (the state while it goes, its code), (the state it ends in).
SHUTDOWN_STEPS = {"stop": (("stopping", 64), "stopped"), "terminate": (("shutting-down", 32), "terminated")}
shutdown_lock = threading.Lock()


def find_instance(instance_id):
    """(ec2 backend, instance) of any account and region moto has made a backend for, or (None, None)."""
    for account_id in list(ec2_backends.keys()):
        for backend in list(dict.values(ec2_backends[account_id])):
            for instance in backend.all_instances():
                if instance.id == instance_id:
                    return backend, instance
    return None, None


def guest_poweroff(instance_id):
    """POST /_peer/instances/<id>/guest-poweroff (see the module's docstring): (HTTP status, payload)."""
    backend, instance = find_instance(instance_id)
    if instance is None:
        return "404 Not Found", {"error": f"no instance {instance_id}"}
    with shutdown_lock:
        if instance.state not in ("pending", "running"):
            return "409 Conflict", {"error": f"{instance_id} is {instance.state}"}
        behavior = "terminate" if instance.instance_initiated_shutdown_behavior == "terminate" else "stop"
        (going, code), final = SHUTDOWN_STEPS[behavior]
        instance._state.name, instance._state.code = going, code
        instance.state_reason = StateReason(*INSTANCE_INITIATED)
    print(f"[moto-peer] {instance_id}: its guest powered off; InstanceInitiatedShutdownBehavior {behavior}: {going}",
          flush=True)

    def finish():
        time.sleep(SHUTDOWN_SECONDS)
        with shutdown_lock:
            if instance.state != going:  # an API call got there first (a TerminateInstances while stopping)
                return
            if behavior == "terminate":
                instance.terminate()
            else:
                instance.stop()
            instance.state_reason = StateReason(*INSTANCE_INITIATED)
        if behavior == "terminate":  # what moto's TerminateInstances tells the services that follow instances
            from moto.autoscaling import autoscaling_backends
            from moto.elbv2 import elbv2_backends
            autoscaling_backends[backend.account_id][backend.region_name].notify_terminate_instances([instance_id])
            elbv2_backends[backend.account_id][backend.region_name].notify_terminate_instances([instance_id])
        print(f"[moto-peer] {instance_id}: {final}", flush=True)
    threading.Thread(target=finish, daemon=True).start()
    return "202 Accepted", {"instance": instance_id, "behavior": behavior, "state": going}


READ_ONLY_PREFIXES = ("Describe", "Get", "List")


class CountRequests:
    """WSGI middleware around moto's app: counts every API call (see the module's docstring),
    answers /_peer/requests itself and hands the Price List's calls to aws_pricing."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.mutating = 0
        self.total = 0
        self.actions = {}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_peer/"):
            return self.control(environ, path, start_response)
        if not path.startswith("/moto-api/"):
            self.record(environ)
        if aws_pricing.handles(environ):
            return aws_pricing.handle(environ, start_response)
        return self.app(environ, start_response)

    def record(self, environ):
        method = environ.get("REQUEST_METHOD", "GET")
        params = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        # The form body, read as moto reads it (then put back for moto).
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length:
                body = environ["wsgi.input"].read(length)
                environ["wsgi.input"] = io.BytesIO(body)
                params.update(urllib.parse.parse_qs(body.decode("utf-8", errors="replace")))
        action = (params.get("Action") or [None])[0]
        if not action and environ.get("HTTP_X_AMZ_TARGET"):
            action = environ["HTTP_X_AMZ_TARGET"].rsplit(".", 1)[-1]
        if action:
            mutating = not action.startswith(READ_ONLY_PREFIXES)
        else:
            action = f"{method} (no Action)"
            mutating = method not in ("GET", "HEAD")
        with self.lock:
            self.total += 1
            self.mutating += mutating
            self.actions[action] = self.actions.get(action, 0) + 1

    def snapshot(self, reset=False):
        with self.lock:
            held = {"mutating": self.mutating, "total": self.total, "actions": dict(self.actions)}
            if reset:
                self.mutating, self.total, self.actions = 0, 0, {}
            return held

    def control(self, environ, path, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/_peer/requests" and method == "GET":
            status, payload = "200 OK", self.snapshot()
        elif path == "/_peer/requests/reset" and method == "POST":
            status, payload = "200 OK", self.snapshot(reset=True)
        elif re.fullmatch(r"/_peer/instances/[^/]+/guest-poweroff", path) and method == "POST":
            status, payload = guest_poweroff(path.split("/")[3])
        else:
            status, payload = "404 Not Found", {"error": f"no control route {method} {path}"}
        data = (json.dumps(payload) + "\n").encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def run_counted(host, port, app, **options):
    run_simple(host, port, CountRequests(app), **options)


run_simple = server.run_simple
server.run_simple = run_counted  # moto's main hands its app to run_simple: it gets the counting one

if __name__ == "__main__":
    server.main(sys.argv[1:])
