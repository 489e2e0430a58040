#!/usr/bin/env python3
"""A real Keystone (v3, from PyPI) for cloudc's OpenStack tests: the template and each start.

``template --venv V --dir D``
    Run once by fetch-openstack.sh. Bootstraps a Keystone in D with V's keystone-manage
    (sqlite, fernet token and receipt keys, credential keys, ``bootstrap``), then serves it
    briefly with uWSGI and adds, through Keystone's REST API: the project ``research`` and the
    user ``researcher`` (``member`` on it) in domain Default, the region RegionTwo and the
    services ``nova`` (compute), ``neutron`` (network) and ``glance`` (image). D then holds
    ``keystone.conf.in`` (its paths written ``@DIR@``), the database, the key repositories and
    ``peer.json`` (names, ids and passwords). No endpoint in it is of any use: each start
    makes its own.

``catalog --keystone http://127.0.0.1:K/v3 --template-json D/peer.json --peer-url http://127.0.0.1:P``
    Run at each start, once uWSGI has been started on a copy of the template: waits until
    Keystone answers, replaces the identity endpoints with ones for port K, gives the compute,
    network and image services endpoints on the local peer (openstack_peer.py): RegionOne
    public ``P/public/...`` and internal ``P/internal/...``, RegionTwo public
    ``P/region-two/...``; then makes an application credential for ``researcher`` on
    ``research`` (as the researcher: Keystone lets only its owner make one). Prints JSON.

``serve --venv V --conf C --port K``
    Becomes (exec, the same PID) uWSGI serving the Keystone whose keystone.conf is C on
    127.0.0.1:K: how the Swift harness and ``template`` start Keystone, the same way.

Only the standard library (the Keystone itself runs in the virtualenv).
"""
import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

CONF = """[DEFAULT]
# One line a request is enough for a test peer.
debug = false

[database]
connection = sqlite:///@DIR@/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = @DIR@/fernet-keys

[fernet_receipts]
key_repository = @DIR@/fernet-receipts

[credential]
key_repository = @DIR@/credential-keys

[identity]
# bcrypt's fewest rounds: every password and application-credential check is fast.
password_hash_rounds = 4

[cache]
# Keystone's own cache, in its one process: requests take a tenth of the time.
enabled = true
backend = dogpile.cache.memory
"""

REGION = "RegionOne"
SERVICES = [("nova", "compute", "compute/v2.1"), ("neutron", "network", "network"), ("glance", "image", "image")]


def log(message):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def serve_command(venv, conf_path, port):
    # One process, no master: uWSGI's worker is the process that was started, so killing its PID
    # (as every test's stop does) leaves nothing behind, and no orphaned worker waits to be
    # reaped. Two threads serve requests. --http-socket: the worker speaks HTTP itself (no router
    # process); it keeps no connection alive and says so (Connection: close), so no client reuses
    # one. --die-on-term: SIGTERM ends it (uWSGI 2.0 would reload on it).
    return [os.path.join(venv, "bin", "uwsgi"), "--http-socket", f"127.0.0.1:{port}",
            "--module", "keystone.wsgi.api:application", "--processes", "1", "--threads", "2",
            "--die-on-term", "--need-app", "--disable-logging", "--buffer-size", "65535",
            "--add-header", "Connection: close"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Keystone:
    """A few calls of Keystone's v3 REST API."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    def call(self, method, path, body=None, token=None, expect=(200, 201, 204)):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("X-Auth-Token", token)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, headers, text = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, text = error.code, error.headers, error.read()
        if status not in expect:
            raise SystemExit(f"Keystone {method} {path}: {status} {text[:500]!r}")
        return status, headers, (json.loads(text) if text else None)

    def wait(self, seconds, pid=None):
        deadline = time.time() + seconds
        while True:
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if pid is not None and not alive(pid):
                raise SystemExit(f"Keystone (uWSGI, pid {pid}) exited before it answered {self.url}")
            if time.time() > deadline:
                raise SystemExit(f"Keystone did not answer {self.url} within {seconds} s")
            time.sleep(0.05)

    def token(self, user, password, project, domain="Default"):
        body = {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": user, "domain": {"name": domain}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": domain}}}}}
        _, headers, answer = self.call("POST", "/auth/tokens", body, expect=(201,))
        return headers["X-Subject-Token"], answer["token"]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A child that has exited but is not yet reaped is a zombie: dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def manage(venv, conf_path, *arguments):
    command = [os.path.join(venv, "bin", "keystone-manage"), "--config-file", conf_path, *arguments]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed ({result.returncode}):\n{result.stdout[-3000:]}")


def template(args):
    directory = os.path.abspath(args.dir)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "keystone.conf.in"), "w") as f:
        f.write(CONF)
    conf_path = os.path.join(directory, "keystone.conf")
    with open(conf_path, "w") as f:
        f.write(CONF.replace("@DIR@", directory))
    port = free_port()
    url = f"http://127.0.0.1:{port}/v3"
    admin_password = secrets.token_urlsafe(18)
    researcher_password = secrets.token_urlsafe(18)
    started = time.time()
    manage(args.venv, conf_path, "db_sync")
    manage(args.venv, conf_path, "fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
    manage(args.venv, conf_path, "credential_setup", "--keystone-user", "root", "--keystone-group", "root")
    manage(args.venv, conf_path, "bootstrap", "--bootstrap-password", admin_password,
           "--bootstrap-admin-url", url + "/", "--bootstrap-public-url", url + "/",
           "--bootstrap-region-id", REGION)
    log(f"keystone-manage db_sync, fernet_setup, credential_setup, bootstrap: {time.time() - started:.1f} s")

    environment = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=conf_path)
    with open(os.path.join(directory, "template-uwsgi.log"), "w") as uwsgi_log:
        server = subprocess.Popen(serve_command(args.venv, conf_path, port), env=environment,
                                  stdout=uwsgi_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        keystone = Keystone(url)
        keystone.wait(60, server.pid)
        admin, _ = keystone.token("admin", admin_password, "admin")
        _, _, domain = keystone.call("GET", "/domains/default", token=admin)
        _, _, project = keystone.call("POST", "/projects", {"project": {
            "name": "research", "domain_id": "default", "description": "cloudc's test project"}}, token=admin)
        project_id = project["project"]["id"]
        _, _, user = keystone.call("POST", "/users", {"user": {
            "name": "researcher", "domain_id": "default", "password": researcher_password,
            "default_project_id": project_id}}, token=admin)
        user_id = user["user"]["id"]
        _, _, roles = keystone.call("GET", "/roles?name=member", token=admin)
        member = roles["roles"][0]["id"]
        keystone.call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{member}", token=admin)
        keystone.call("POST", "/regions", {"region": {"id": "RegionTwo", "description": "a second region"}}, token=admin)
        services = {}
        for name, kind, _ in SERVICES:
            _, _, service = keystone.call("POST", "/services", {"service": {
                "name": name, "type": kind, "enabled": True}}, token=admin)
            services[kind] = service["service"]["id"]
        _, _, identity = keystone.call("GET", "/services?type=identity", token=admin)
        services["identity"] = identity["services"][0]["id"]
        peer = {
            "keystone": "30.0.0",
            "admin": {"username": "admin", "password": admin_password, "project": "admin", "domain": domain["domain"]["name"]},
            "researcher": {"username": "researcher", "password": researcher_password, "id": user_id},
            "project": {"name": "research", "id": project_id, "domain": "Default"},
            "member_role_id": member,
            "services": services,
        }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    os.remove(conf_path)
    # Written last: the template is complete when peer.json is there.
    with open(os.path.join(directory, "peer.json.tmp"), "w") as f:
        json.dump(peer, f, indent=2)
    os.rename(os.path.join(directory, "peer.json.tmp"), os.path.join(directory, "peer.json"))
    log(f"Keystone template ready in {directory} ({time.time() - started:.1f} s)")


def catalog(args):
    with open(args.template_json) as f:
        peer = json.load(f)
    keystone = Keystone(args.keystone)
    started = time.time()
    keystone.wait(args.timeout, args.wait_pid)
    ready = time.time() - started
    admin = peer["admin"]
    token, _ = keystone.token(admin["username"], admin["password"], admin["project"])
    services = peer["services"]

    def endpoint(service, interface, region, url):
        keystone.call("POST", "/endpoints", {"endpoint": {
            "service_id": service, "interface": interface, "region_id": region, "url": url, "enabled": True}},
            token=token)

    # The bootstrap's identity endpoints name the template's port: replace them.
    _, _, stale = keystone.call("GET", f"/endpoints?service_id={services['identity']}", token=token)
    for old in stale["endpoints"]:
        keystone.call("DELETE", f"/endpoints/{old['id']}", token=token)
    for interface in ("public", "internal", "admin"):
        endpoint(services["identity"], interface, REGION, keystone.url)
    peer_url = args.peer_url.rstrip("/")
    for _, kind, path in SERVICES:
        endpoint(services[kind], "public", REGION, f"{peer_url}/public/{path}")
        endpoint(services[kind], "internal", REGION, f"{peer_url}/internal/{path}")
        endpoint(services[kind], "public", "RegionTwo", f"{peer_url}/region-two/{path}")

    researcher = peer["researcher"]
    user_token, _ = keystone.token(researcher["username"], researcher["password"], peer["project"]["name"])
    _, _, credential = keystone.call("POST", f"/users/{researcher['id']}/application_credentials", {
        "application_credential": {"name": f"cloudc-tests-{secrets.token_hex(4)}",
                                   "description": "made by the test harness at start"}}, token=user_token)
    credential = credential["application_credential"]
    json.dump({"application_credential_id": credential["id"], "application_credential_secret": credential["secret"],
               "keystone_ready_seconds": round(ready, 3), "catalog_seconds": round(time.time() - started - ready, 3)},
              sys.stdout)
    sys.stdout.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("template")
    make.add_argument("--venv", required=True)
    make.add_argument("--dir", required=True)
    setup = commands.add_parser("catalog")
    setup.add_argument("--keystone", required=True, help="http://127.0.0.1:K/v3")
    setup.add_argument("--template-json", required=True)
    setup.add_argument("--peer-url", required=True, help="http://127.0.0.1:P, the compute/network/image peer")
    setup.add_argument("--wait-pid", type=int, help="give up when this process (uWSGI) is gone")
    setup.add_argument("--timeout", type=float, default=60)
    serve = commands.add_parser("serve")
    serve.add_argument("--venv", required=True)
    serve.add_argument("--conf", required=True)
    serve.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.command == "template":
        if not os.path.exists(os.path.join(args.venv, "bin", "uwsgi")):
            raise SystemExit(f"{args.venv} has no uwsgi: run bash Tests/peers/fetch-openstack.sh")
        template(args)
    elif args.command == "catalog":
        catalog(args)
    else:
        command = serve_command(args.venv, args.conf, args.port)
        os.execve(command[0], command, dict(os.environ, OS_KEYSTONE_CONFIG_FILES=os.path.abspath(args.conf)))


if __name__ == "__main__":
    main()
