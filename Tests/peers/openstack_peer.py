#!/usr/bin/env python3
"""A local OpenStack compute, network and image service for cloudc's tests.

It answers as Nova, Neutron and Glance do, behind a real Keystone:

* Every API request needs an ``X-Auth-Token`` that the Keystone given with ``--keystone``
  validates (``GET /v3/auth/tokens`` with this peer's admin token; answers are cached for two
  seconds). Anything else gets keystonemiddleware's 401, as all three services answer. The
  token's project owns what is made with it; keypairs belong to its user, as in Nova.
* ``/{label}/compute/v2.1/...``: Nova. Request bodies are checked against the key trees of
  Nova's own API samples (``--samples``: the ``api_samples`` folder of the nova wheel, fetched
  by fetch-openstack.sh), the union over all microversions, plus the few keys of Nova's
  request schema that no sample shows (SCHEMA_ONLY_KEYS), then against Nova's required fields
  and rules, with Nova's messages. Responses are built from the sample of the requested
  microversion (``OpenStack-API-Version: compute 2.x``; 2.1 without one): the same keys, this
  peer's values. Errors are Nova's (``{"badRequest": {"code": 400, "message": ...}}``).
* ``/{label}/network/v2.0/...``: Neutron (networks, subnets, ports, security groups and their
  rules, floating IPs), in the shapes of Neutron's API reference, errors
  ``{"NeutronError": {"type", "message", "detail"}}``; unknown attributes and filters are
  refused as Neutron refuses them.
* ``/{label}/image/v2/...``: Glance's image list and show.
* ``/_peer/...``: a control API for tests (no token): state, settings, injected faults.
  ``GET /_peer/requests`` counts what the peer received (so a test can check that a dry run
  made no mutating call): ``{"mutating": N, "total": M, "log": [[METHOD, PATH], ...]}``, the
  log the last 200 requests, oldest first. ``total`` is every request but ``/_peer/`` ones;
  ``mutating`` every one of them whose method is not GET or HEAD. A request counts as it
  arrives: one that is then refused (401 for its token, 400, 404, an injected fault) was still
  made. Calls to Keystone (a client's token requests; this peer's own token validations) go to
  keystone_peer.py, not here, and are not counted. ``POST /_peer/requests/reset`` sets the
  counts to zero and answers with what they were.
* With ``--nodes DIR``, every server boots as a VM-like node (vm_nodes.py: a systemd-nspawn
  machine from a stock Debian 12 image) at its fixed IP on a test bridge, with the login user of
  its image (``debian``) made with the public key of its ``key_name`` a while after sshd answers,
  as cloud-init does. A floating IP associated to its port is added as its external address, and
  taken away again when let go; only a node with one gets to the outside world (the package
  cache: an apt proxy setting). This machine's end of the bridge is on the floating network
  alone (its gateway, .1): the tenant network is reached through a node with a floating IP.
  A deleted server is listed (task_state ``deleting``) until its node is gone. A node powered off
  from inside (``systemctl poweroff``) makes its server ``SHUTOFF`` (vm_state ``stopped``,
  power_state 4, task_state null), as Nova's power-state sync does after a guest shutdown; it stays
  so, listed with its ports and floating IP, until it is deleted (as an ``ACTIVE`` one is).

``{label}`` is ``public``, ``internal`` or ``region-two``: all three are served alike, and
counted apart, so a test can tell which catalog endpoint a client used (keystone_peer.py
registers them).

usage: openstack_peer.py --keystone http://127.0.0.1:K/v3 --admin-password P \
                         --samples .peers/nova-api-samples [--port 0] [--port-file F] [--build-seconds 0.3]
                         [--private-cidr C] [--public-cidr C]
                         [--nodes DIR --node-subnet N --node-tag T --package-cache-port P --user-delay S]

Only the standard library.
"""
import argparse
import base64
import binascii
import copy
import datetime
import glob
import hashlib
import ipaddress
import json
import os
import re
import secrets
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from cloud_console import boot_console, new_host_key
from peer_http import PeerHandler, RequestCounter, SAFE_METHODS, exit_with_parent, listen, serve

LABELS = ("public", "internal", "region-two")
TOKEN_CACHE_SECONDS = 2.0
INSTANCE_QUOTA = 10
FLOATING_IP_QUOTA = 50
AVAILABILITY_ZONES = ("nova", "az2")
METADATA_KEY = "^[a-zA-Z0-9-_:. ]{1,255}$"
KEYPAIR_NAME = r"^[_\- a-zA-Z0-9]+$"
KEYPAIR_NAME_V292 = r"^[_\-\@\. a-zA-Z0-9]+$"
GIB = 1024 ** 3


def log(message):
    sys.stderr.write(time.strftime("%H:%M:%S ") + message + "\n")
    sys.stderr.flush()


def now_iso(t=None):
    return datetime.datetime.fromtimestamp(t if t is not None else time.time(), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def neutron_time(t):
    return now_iso(t)


def stable_uuid(*parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cloudc-openstack-peer/" + "/".join(parts)))


def parse_version(text):
    match = re.match(r"^([1-9]\d*)\.([1-9]\d*|0)$", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


# ---------------------------------------------------------------------------------------
# Errors, in each service's shape
# ---------------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status, body, headers=None, content_type="application/json"):
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type


# webob's fault names, as Nova's FaultWrapper uses them.
NOVA_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                    405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
                    429: "overLimit", 501: "notImplemented", 503: "serviceUnavailable"}


def nova_error(status, message):
    return ApiError(status, {NOVA_FAULT_NAMES.get(status, "computeFault"): {"code": status, "message": message}})


def neutron_error(status, kind, message):
    return ApiError(status, {"NeutronError": {"type": kind, "message": message, "detail": ""}})


def keystone_unauthorized(keystone_url):
    """What keystonemiddleware's auth_token answers for Nova, Neutron and Glance alike."""
    body = {"error": {"code": 401, "title": "Unauthorized",
                      "message": "The request you have made requires authentication."}}
    base = re.sub(r"/v3/?$", "", keystone_url)
    return ApiError(401, body, headers={"WWW-Authenticate": f'Keystone uri="{base}"'})


def invalid_input(path, value, message):
    """Nova's jsonschema error: "Invalid input for field/attribute <last path element>. Value: ..."."""
    if path:
        return nova_error(400, f"Invalid input for field/attribute {path[-1]}. Value: {value}. {message}")
    return nova_error(400, message)


def unexpected(extras):
    verb = "was" if len(extras) == 1 else "were"
    return f"Additional properties are not allowed ({', '.join(repr(e) for e in extras)} {verb} unexpected)"


def type_name(expected):
    return repr(expected) if isinstance(expected, str) else repr(list(expected))


def check_type(path, value, expected):
    """jsonschema's 'type' keyword: expected is 'string', 'integer', 'object', 'array', 'boolean' or a list."""
    kinds = [expected] if isinstance(expected, str) else list(expected)
    checks = {"string": lambda v: isinstance(v, str), "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
              "boolean": lambda v: isinstance(v, bool), "null": lambda v: v is None}
    if not any(checks[k](value) for k in kinds):
        raise invalid_input(path, value, f"{value!r} is not of type {', '.join(repr(k) for k in kinds)}")


def check_string(path, value, min_length=None, max_length=None, pattern=None):
    check_type(path, value, "string")
    if min_length is not None and len(value) < min_length:
        raise invalid_input(path, value, f"{value!r} is too short")
    if max_length is not None and len(value) > max_length:
        raise invalid_input(path, value, f"{value!r} is too long")
    if pattern is not None and not re.search(pattern, value):
        raise invalid_input(path, value, f"{value!r} does not match {pattern!r}")


def is_uuid(text):
    try:
        uuid.UUID(str(text))
        return True
    except ValueError:
        return False


BOOLEAN_STRINGS = {"true", "false", "1", "0", "yes", "no", "on", "off", "y", "n", "t", "f"}


def check_boolean(path, value):
    """Nova's parameter_types.boolean: a JSON boolean or one of oslo's boolean strings."""
    if isinstance(value, bool) or (isinstance(value, str) and value.lower() in BOOLEAN_STRINGS):
        return
    raise invalid_input(path, value, f"{value!r} is not one of {[True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'y', 't', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no', 'n', 'f']!r}")


# ---------------------------------------------------------------------------------------
# Nova's API samples: request key trees and response templates
# ---------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r'"(?:[^"\\]|\\.)*"|%\((\w+)\)s')
FREE = "*"  # a key tree node whose keys are data (metadata, scheduler hints), not names


def parse_sample(text):
    """A sample template as JSON: %(x)s inside strings becomes text, bare %(int)s a number."""
    def bare(match):
        return match.group(0) if match.group(1) is None else "0"
    text = PLACEHOLDER.sub(bare, text)
    text = re.sub(r"%\((\w+)\)s", "x", text)
    return json.loads(text)


def key_tree(value, tree):
    """Adds the keys of one sample body to a tree: {key: subtree}, lists under "[]"."""
    if isinstance(value, dict):
        for key, item in value.items():
            key_tree(item, tree.setdefault(key, {}))
    elif isinstance(value, list):
        for item in value:
            key_tree(item, tree.setdefault("[]", {}))
    return tree


def mark_free(tree, *paths):
    for path in paths:
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node.clear()
        node[FREE] = {}


def add_keys(tree, path, keys):
    node = tree
    for part in path:
        node = node.setdefault(part, {})
    for key in keys:
        node.setdefault(key, {})


# Samples that show a special case, not the usual answer: Nova's 2.69 server samples are of a
# server in a cell that is down (status UNKNOWN, a few keys).
NOT_TYPICAL = {("servers", "v2.69", name) for name in
               ("server-get-resp.json.tpl", "servers-details-resp.json.tpl", "servers-list-resp.json.tpl")}


class Samples:
    def __init__(self, root):
        self.root = root
        with open(os.path.join(root, "max_api_version")) as f:
            self.max_version_text = f.read().strip()
        self.max_version = parse_version(self.max_version_text)
        self.cache = {}
        self.lock = threading.Lock()

    def path_for(self, folder, name, version):
        """The sample of the highest microversion <= version that has this file, else the base one."""
        best, best_path = None, None
        for directory in glob.glob(os.path.join(self.root, folder, "v2.*")):
            v = parse_version(os.path.basename(directory)[1:])
            candidate = os.path.join(directory, name)
            if (folder, os.path.basename(directory), name) in NOT_TYPICAL:
                continue
            if v and v <= version and os.path.exists(candidate) and (best is None or v > best):
                best, best_path = v, candidate
        if best_path:
            return best_path
        base = os.path.join(self.root, folder, name)
        if not os.path.exists(base):
            raise KeyError(f"no sample {folder}/{name}")
        return base

    def load(self, folder, name, version=(2, 1)):
        path = self.path_for(folder, name, version)
        with self.lock:
            if path not in self.cache:
                with open(path) as f:
                    self.cache[path] = parse_sample(f.read())
            return copy.deepcopy(self.cache[path])

    @staticmethod
    def sample_version(path):
        """The microversion a sample shows: its folder's (`v2.37/`), else its name's (`-v237`), else 2.1."""
        folder = os.path.basename(os.path.dirname(path))
        if folder.startswith("v2."):
            return parse_version(folder[1:])
        named = re.search(r"-v2(\d+)\.json", os.path.basename(path))
        return (2, int(named.group(1))) if named else (2, 1)

    def request_tree(self, patterns, top_keys, version=None):
        """The union of the keys of every request sample matching the glob patterns whose body has
        one of top_keys, over the microversions up to `version` (all of them when None)."""
        tree = {}
        files = []
        for pattern in patterns:
            files += glob.glob(os.path.join(self.root, pattern), recursive=True)
        for path in sorted(set(files)):
            if version is not None and self.sample_version(path) > version:
                continue
            with open(path) as f:
                try:
                    body = parse_sample(f.read())
                except ValueError:
                    continue
            if isinstance(body, dict) and set(body) & set(top_keys):
                key_tree(body, tree)
        return tree, len(files)


def check_keys(value, tree, path):
    """Refuses keys the tree does not have, deepest first, as jsonschema reports
    additionalProperties after the properties it knows."""
    if not tree or FREE in tree:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if key in tree:
                check_keys(item, tree[key], path + [key])
        extras = [key for key in value if key not in tree]
        if extras:
            raise invalid_input(path, value, unexpected(extras))
    elif isinstance(value, list) and "[]" in tree:
        for index, item in enumerate(value):
            check_keys(item, tree["[]"], path + [index])


def conform(template, values, free=("addresses", "metadata", "extra_specs", "scheduler_hints")):
    """A response object with exactly the template's keys: values from `values`, and, where this
    peer has none, the sample's own (the sample says what the key looks like)."""
    result = {}
    for key, sample in template.items():
        if key not in values:
            result[key] = sample
            continue
        value = values[key]
        if key not in free and isinstance(sample, dict) and isinstance(value, dict) and sample:
            value = conform(sample, value, free)
        elif (key not in free and isinstance(sample, list) and sample and isinstance(sample[0], dict)
              and isinstance(value, list)):
            value = [conform(sample[0], item, free) if isinstance(item, dict) else item for item in value]
        result[key] = value
    return result


# Keys of Nova's server-create request schema (nova/api/openstack/compute/schemas/servers.py in
# the same wheel) that none of its API samples shows; every other key comes from the samples.
SCHEMA_ONLY_KEYS = [
    (["server"], ["key_name", "config_drive", "block_device_mapping", "return_reservation_id", "min_count", "max_count",
                  "adminPass"]),
    (["server", "networks", "[]"], ["port", "fixed_ip", "uuid"]),
    (["server", "block_device_mapping_v2", "[]"], [
        "virtual_name", "volume_id", "snapshot_id", "volume_size", "device_name", "delete_on_termination",
        "no_device", "connection_info", "source_type", "uuid", "image_id", "destination_type", "guest_format",
        "device_type", "disk_bus", "boot_index"]),
    (["server", "block_device_mapping", "[]"], [
        "virtual_name", "volume_id", "snapshot_id", "volume_size", "device_name", "delete_on_termination",
        "no_device", "connection_info"]),
    (["os:scheduler_hints"], []),
]

# Keys of Nova's schema added at a later microversion ((path, keys, first version)), and keys a
# later microversion took out again ((path, key, the version from which it is refused)).
SCHEMA_ONLY_KEYS_SINCE = [
    (["server"], ["description"], (2, 19)),
    (["server", "networks", "[]"], ["tag"], (2, 32)),
    (["server", "block_device_mapping_v2", "[]"], ["tag"], (2, 32)),
    (["server", "block_device_mapping_v2", "[]"], ["volume_type"], (2, 67)),
]
KEYS_REMOVED_AT = [
    (["server"], "personality", (2, 57)),
]


# ---------------------------------------------------------------------------------------
# What the cloud holds
# ---------------------------------------------------------------------------------------

FLAVORS = [
    {"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20, "extra_specs": {}},
    {"id": "4", "name": "m1.large", "vcpus": 4, "ram": 8192, "disk": 80, "extra_specs": {}},
    {"id": "gpu-t4", "name": "g1.t4", "vcpus": 8, "ram": 32768, "disk": 100,
     "extra_specs": {"pci_passthrough:alias": "nvidia-t4:1", "hw:cpu_policy": "dedicated"}},
]

IMAGES = [
    {"id": "6a6c6e1b-5d1c-4d3c-9a59-3f0b6f1c2d12", "name": "debian-12", "min_disk": 2, "size": 402653184,
     "os_distro": "debian", "os_version": "12", "os_admin_user": "debian", "created": 1735689600},
    {"id": "0e3b2c9a-7f41-4b8e-8d6a-2c5f9e1a7b34", "name": "ubuntu-24.04", "min_disk": 3, "size": 603979776,
     "os_distro": "ubuntu", "os_version": "24.04", "os_admin_user": "ubuntu", "created": 1735689600},
]

ADMIN_PROJECT = "admin-project-of-the-cloud"


class Network:
    def __init__(self, name, cidr, external, project_id):
        self.id = stable_uuid("network", name)
        self.subnet_id = stable_uuid("subnet", name)
        self.name = name
        self.cidr = ipaddress.ip_network(cidr)
        self.external = external
        self.project_id = project_id
        self.created = time.time()
        self.next_host = 10  # .1 is the router, .2 DHCP

    def allocate(self, used):
        for host in list(self.cidr.hosts())[self.next_host - 1:]:
            address = str(host)
            if address not in used:
                return address
        return None

    def resource(self):
        return {
            "id": self.id, "name": self.name, "tenant_id": self.project_id, "project_id": self.project_id,
            "status": "ACTIVE", "subnets": [self.subnet_id], "admin_state_up": True, "shared": False,
            "router:external": self.external, "mtu": 1450, "availability_zones": ["nova"],
            "availability_zone_hints": [], "ipv4_address_scope": None, "ipv6_address_scope": None,
            "is_default": self.external, "port_security_enabled": True, "qos_policy_id": None,
            "l2_adjacency": True, "description": "", "tags": [], "revision_number": 1,
            "created_at": neutron_time(self.created), "updated_at": neutron_time(self.created),
        }

    def subnet(self):
        hosts = list(self.cidr.hosts())
        return {
            "id": self.subnet_id, "name": f"{self.name}-subnet", "network_id": self.id,
            "tenant_id": self.project_id, "project_id": self.project_id, "ip_version": 4,
            "cidr": str(self.cidr), "gateway_ip": str(hosts[0]), "enable_dhcp": not self.external,
            "allocation_pools": [{"start": str(hosts[1]), "end": str(hosts[-1])}],
            "dns_nameservers": [], "host_routes": [], "ipv6_address_mode": None, "ipv6_ra_mode": None,
            "subnetpool_id": None, "segment_id": None, "service_types": [], "description": "", "tags": [],
            "dns_publish_fixed_ip": False, "revision_number": 0,
            "created_at": neutron_time(self.created), "updated_at": neutron_time(self.created),
        }


class Server:
    node = None        # with --nodes: the VM-like node behind the server (vm_nodes.Node)
    node_gone = None   # set once a deleted server's node is gone
    shut_off_at = None  # when the peer first saw its node powered off from inside (then SHUTOFF)

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def console_host_keys(self):
        """The host keys cloud-init printed: with a node, its own once its sshd answers (none before)."""
        if self.node is None:
            return self.host_keys
        return self.node.host_keys() if self.node.sshd_answered.is_set() else []

    def status(self, now):
        """(status, vm_state, task_state, power_state). From the delete until it is gone, Nova keeps
        the status and vm_state the server had and sets task_state `deleting`."""
        self.note_power_off()
        if self.deleted_at is not None:
            status, vm_state, _, power_state = self.live_status(self.deleted_at)
            return status, vm_state, "deleting", power_state
        return self.live_status(now)

    def networked(self, now):
        """Nova fills `addresses` once the network is allocated, part way through BUILD: `{}` before."""
        return self.deleted_at is not None or now >= self.created + self.build_seconds / 2

    def note_power_off(self):
        """A node that powered off from inside (`systemctl poweroff` in the guest) makes its server
        SHUTOFF from then on, as Nova's power-state sync does once the hypervisor reports the guest
        shut down: no API call stopped it, so Nova makes the instance `stopped` itself (the time is
        also its `updated`). Seen before the delete only: removing a node powers it off too."""
        if self.shut_off_at is None and self.deleted_at is None and self.node is not None \
                and self.node.state() == "terminated":
            self.shut_off_at = self.updated = time.time()
            log(f"server {self.id} ({self.name}): its node powered off: SHUTOFF")

    def live_status(self, now):
        if now < self.created + self.build_seconds:
            return "BUILD", "building", "spawning", 0
        if self.fault:
            return "ERROR", "error", None, 0
        if self.shut_off_at is not None:  # seen before any delete (note_power_off)
            return "SHUTOFF", "stopped", None, 4  # power_state SHUTDOWN
        return "ACTIVE", "active", None, 1


class Peer:
    def __init__(self, samples, keystone_url, admin_password, admin_user, admin_project, build_seconds, project_id,
                 private_cidr="10.0.0.0/24", public_cidr="203.0.113.0/24"):
        self.samples = samples
        self.keystone_url = keystone_url.rstrip("/")
        self.admin = (admin_user, admin_password, admin_project)
        self.build_seconds = build_seconds
        self.lock = threading.RLock()
        self.admin_token = None
        self.token_cache = {}
        self.counts = {"server_creates": 0, "rejected_tokens": 0}
        self.requests = {label: 0 for label in LABELS}
        self.received = RequestCounter()  # GET /_peer/requests
        self.servers = {}          # id → Server
        self.keypairs = {}         # (user_id, name) → dict
        self.security_groups = {}  # id → dict
        self.rules = {}            # id → dict
        self.ports = {}            # id → dict
        self.floating_ips = {}     # id → dict
        self.faults = []           # {"kind": "fault", "name_contains", "message"}
        self.quota_refusals = []   # {"status", "count"}
        self.networks = [Network("private", private_cidr, False, project_id or ADMIN_PROJECT),
                         Network("public", public_cidr, True, ADMIN_PROJECT)]
        self.nodes = None  # --nodes: the VM-like nodes behind the servers (vm_nodes.Backend)
        self.nodes_changed = threading.Event()
        self.router_id = stable_uuid("router", "router1")
        self.server_create_tree = self._server_create_tree()
        self.server_create_trees = {}
        self.keypair_create_tree, _ = samples.request_tree(["os-keypairs/**/keypairs-*post-req.json.tpl"], ["keypair"])

    def _server_create_tree(self, version=None):
        """The keys a server create may have at `version` (at any microversion when None): those of
        Nova's samples up to it, and those of its schema that no sample shows."""
        tree, files = self.samples.request_tree(
            ["servers/**/server-create-req*.json.tpl", "os-multiple-create/**/*post-req.json.tpl"], ["server"], version)
        for path, keys in SCHEMA_ONLY_KEYS:
            add_keys(tree, path, keys)
        for path, keys, since in SCHEMA_ONLY_KEYS_SINCE:
            if version is None or version >= since:
                add_keys(tree, path, keys)
        for path, key, removed in KEYS_REMOVED_AT:
            node = tree
            for part in path:
                node = node.get(part, {})
            if version is not None and version >= removed:
                node.pop(key, None)
        mark_free(tree, ["server", "metadata"], ["OS-SCH-HNT:scheduler_hints"], ["os:scheduler_hints"])
        return tree

    def server_create_tree_at(self, version):
        with self.lock:
            if version not in self.server_create_trees:
                self.server_create_trees[version] = self._server_create_tree(version)
            return self.server_create_trees[version]

    # --- Keystone ------------------------------------------------------------------------

    def keystone(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.keystone_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.headers, None

    def get_admin_token(self, renew=False):
        with self.lock:
            if self.admin_token and not renew:
                return self.admin_token
        user, password, project = self.admin
        status, headers, _ = self.keystone("POST", "/auth/tokens", {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}})
        if status != 201:
            raise ApiError(503, {"error": {"code": 503, "title": "Service Unavailable",
                                           "message": f"the peer could not get an admin token from Keystone ({status})"}})
        with self.lock:
            self.admin_token = headers["X-Subject-Token"]
            return self.admin_token

    def validate(self, token):
        """The token's body as Keystone validates it, or None."""
        if not token:
            return None
        now = time.time()
        with self.lock:
            cached = self.token_cache.get(token)
            if cached and cached[0] > now:
                return cached[1]
        info = None
        for attempt in range(2):
            status, _, body = self.keystone("GET", "/auth/tokens", headers={
                "X-Auth-Token": self.get_admin_token(renew=attempt > 0), "X-Subject-Token": token})
            if status == 401:  # the peer's own token has expired
                continue
            if status == 200:
                info = body["token"]
            break
        with self.lock:
            self.token_cache[token] = (now + TOKEN_CACHE_SECONDS, info)
        return info

    # --- time ----------------------------------------------------------------------------

    def sweep(self, now):
        """Servers whose deletion is over are gone, with their ports (floating IPs let go)."""
        for server in list(self.servers.values()):
            if server.deleted_at is not None and now >= server.deleted_at + server.delete_seconds \
                    and (server.node_gone is None or server.node_gone.is_set()):
                self.release_ports(server.id)
                del self.servers[server.id]
            elif server.fault and server.port_ids and now >= server.created + server.build_seconds:
                # Scheduling failed: Nova never bound a port for it.
                self.release_ports(server.id)
                server.port_ids = []

    def release_ports(self, server_id):
        for port_id in [p for p, port in self.ports.items() if port["device_id"] == server_id]:
            for fip in self.floating_ips.values():
                if fip["port_id"] == port_id:
                    fip["port_id"] = None
                    fip["fixed_ip_address"] = None
                    fip["router_id"] = None
                    fip["status"] = "DOWN"
                    fip["updated"] = time.time()
            del self.ports[port_id]

    # --- VM-like nodes (--nodes) ---------------------------------------------------------

    def boot_node(self, server):
        """Under the lock, for a server just made: its node boots in the background at its fixed IP,
        its image's login user to get the key pair's public key."""
        if self.nodes is None or server.fault:
            return
        fixed = next((self.ports[p]["fixed_ips"][0]["ip_address"] for p in server.port_ids
                      if p in self.ports and self.ports[p]["fixed_ips"]), None)
        if fixed is None:
            return
        image = next((i for i in IMAGES if i["id"] == server.image_id), {})
        keypair = self.keypairs.get((server.user_id, server.key_name)) if server.key_name else None
        keys = f"{image.get('os_admin_user', 'debian')}:{keypair['public_key']}" if keypair else ""
        alias = server.flavor["extra_specs"].get("pci_passthrough:alias", "")
        gpus = int(alias.rsplit(":", 1)[1]) if ":" in alias else 0
        server.node = self.nodes.create(server.id, server.hostname, fixed, None, gpus, keys, folder=server.id)

    def remove_node(self, server):
        """Under the lock, for a server being deleted: its node powers off and goes in the background."""
        if server.node is None or server.node_gone is not None:
            return
        server.node_gone = threading.Event()

        def remove(gone=server.node_gone):
            self.nodes.delete(server.id)
            gone.set()
        threading.Thread(target=remove, daemon=True).start()

    def follow_floating_ips(self):
        """Gives each node the floating IP its server's port has now (or takes it away), in order."""
        while True:
            self.nodes_changed.wait(1)
            self.nodes_changed.clear()
            with self.lock:
                wanted = []
                for server in self.servers.values():
                    if server.node is None or server.deleted_at is not None:
                        continue
                    floating = next((f["floating_ip_address"] for f in self.floating_ips.values()
                                     if f["port_id"] in server.port_ids), None)
                    wanted.append((server.node, floating))
            for node, floating in wanted:
                if node.external_ip != floating:
                    try:
                        node.set_external_ip(floating)
                    except Exception as error:  # the node went away meanwhile
                        log(f"node {node.name}: floating IP {floating}: {error}")

    # --- control -------------------------------------------------------------------------

    def state(self):
        now = time.time()
        with self.lock:
            self.sweep(now)
            servers = []
            for server in sorted(self.servers.values(), key=lambda s: s.created):
                ports = [self.ports[p] for p in server.port_ids if p in self.ports]
                fixed = next((port["fixed_ips"][0]["ip_address"] for port in ports), None)
                floating = next((fip["floating_ip_address"] for fip in self.floating_ips.values()
                                 if fip["port_id"] in server.port_ids), None)
                servers.append({
                    "id": server.id, "name": server.name, "status": server.status(now)[0],
                    "deleting": server.deleted_at is not None,
                    "metadata": server.metadata, "flavor_id": server.flavor["id"], "image_id": server.image_id,
                    "key_name": server.key_name, "security_groups": list(server.security_group_names),
                    "networks": list(server.network_names), "availability_zone": server.requested_zone,
                    "boot_volume_size": server.boot_volume_size, "fixed_ip": fixed, "floating_ip": floating,
                    "fault": server.fault["message"] if server.fault else None, "project_id": server.project_id,
                    "host_keys": [f"{kind} {key}" for kind, key in server.console_host_keys()],
                })
            return {
                "servers": servers,
                "keypairs": [{"name": k["name"], "public_key": k["public_key"], "user_id": k["user_id"]}
                             for k in sorted(self.keypairs.values(), key=lambda k: k["created"])],
                "security_groups": [{
                    "id": group["id"], "name": group["name"], "project_id": group["project_id"],
                    "rules": [{key: rule[key] for key in ("id", "direction", "ethertype", "protocol", "port_range_min",
                                                          "port_range_max", "remote_ip_prefix", "remote_group_id")}
                              for rule in self.rules.values() if rule["security_group_id"] == group["id"]],
                } for group in sorted(self.security_groups.values(), key=lambda g: g["created"])],
                "floating_ips": [{key: fip[key] for key in ("id", "floating_ip_address", "floating_network_id",
                                                            "port_id", "description", "project_id")}
                                 | {"address": fip["floating_ip_address"]}
                                 for fip in sorted(self.floating_ips.values(), key=lambda f: f["created"])],
                "ports": [{"id": port["id"], "network_id": port["network_id"], "device_id": port["device_id"],
                           "device_owner": port["device_owner"],
                           "fixed_ip": port["fixed_ips"][0]["ip_address"] if port["fixed_ips"] else None,
                           "security_groups": list(port["security_groups"])}
                          for port in sorted(self.ports.values(), key=lambda p: p["created"])],
                "server_creates": self.counts["server_creates"],
                "requests": dict(self.requests),
                "rejected_tokens": self.counts["rejected_tokens"],
                "faults": list(self.faults),
                "quota_refusals": list(self.quota_refusals),
                "build_seconds": self.build_seconds,
                "max_api_version": self.samples.max_version_text,
            }

    def inject(self, spec):
        kind = spec.get("kind")
        with self.lock:
            if kind == "fault":
                if not spec.get("name_contains") or not spec.get("message"):
                    raise ValueError("a fault needs name_contains and message")
                self.faults.append({"kind": "fault", "name_contains": spec["name_contains"], "message": spec["message"],
                                    "details": spec.get("details")})
            elif kind == "quota":
                status = int(spec.get("status", 403))
                if status not in (403, 413):
                    raise ValueError("a quota refusal is 403 or 413")
                self.quota_refusals.append({"status": status, "count": int(spec.get("count", 1))})
            else:
                raise ValueError(f"unknown kind {kind!r}: fault or quota")
            return {"faults": list(self.faults), "quota_refusals": list(self.quota_refusals)}


# ---------------------------------------------------------------------------------------
# One request
# ---------------------------------------------------------------------------------------

class Request:
    def __init__(self, peer, method, label, service, rest, query, body, headers, token, base_url):
        self.peer = peer
        self.method = method
        self.label = label
        self.service = service
        self.rest = rest
        self.query = query
        self.body = body
        self.headers = headers
        self.token = token
        self.project_id = (token.get("project") or {}).get("id")
        self.user_id = token["user"]["id"]
        self.base_url = base_url  # http://127.0.0.1:P/{label}/{service}
        self.version = (2, 1)
        self.response_headers = {}

    def nova_body(self):
        """The JSON body, or Nova's answer to one that is missing or not JSON."""
        if not self.body:
            raise invalid_input([], None, "None is not of type 'object'")
        try:
            return json.loads(self.body)
        except ValueError:
            raise nova_error(400, "Malformed request body")

    def param(self, name):
        values = self.query.get(name)
        return values[-1] if values else None


# ---------------------------------------------------------------------------------------
# Nova
# ---------------------------------------------------------------------------------------

class Nova:
    def __init__(self, peer):
        self.peer = peer
        self.samples = peer.samples
        self.console_tree, _ = self.samples.request_tree(["os-console-output/**/console-output-post-req.json.tpl"],
                                                         ["os-getConsoleOutput"])

    def microversion(self, req):
        header = None
        for key, value in req.headers.items():
            if key.lower() == "openstack-api-version":
                parts = value.strip().split()
                if len(parts) == 2 and parts[0].lower() == "compute":
                    header = parts[1]
            elif key.lower() == "x-openstack-nova-api-version" and header is None:
                header = value.strip()
        maximum = self.samples.max_version
        if header is None:
            version = (2, 1)
        elif header.lower() == "latest":
            version = maximum
        else:
            version = parse_version(header)
            if version is None:
                raise nova_error(400, f"API Version String {header} is of invalid format. Must be of format MajorNum.MinorNum.")
            if not ((2, 1) <= version <= maximum):
                raise nova_error(406, f"Version {header} is not supported by the API. Minimum is 2.1 and maximum is "
                                      f"{self.samples.max_version_text}.")
        req.version = version
        text = f"{version[0]}.{version[1]}"
        req.response_headers.update({"OpenStack-API-Version": f"compute {text}", "X-OpenStack-Nova-API-Version": text,
                                     "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"})

    def endpoints(self, req):
        return {"versioned": req.base_url + "/v2.1", "bookmark": req.base_url}

    def links(self, req, kind, ident):
        e = self.endpoints(req)
        return [{"href": f"{e['versioned']}/{kind}/{ident}", "rel": "self"},
                {"href": f"{e['bookmark']}/{kind}/{ident}", "rel": "bookmark"}]

    def handle(self, req):
        self.microversion(req)
        parts = [p for p in req.rest.split("/") if p]
        if parts[:1] != ["v2.1"]:
            raise nova_error(404, "The resource could not be found.")
        parts = parts[1:]
        m = req.method
        if not parts:
            return 200, {"version": self.version_document(req)}
        head = parts[0]
        if head == "flavors":
            if parts == ["flavors"] and m == "GET":
                return 200, self.flavor_list(req, detail=False)
            if parts == ["flavors", "detail"] and m == "GET":
                return 200, self.flavor_list(req, detail=True)
            if len(parts) == 2 and m == "GET":
                return 200, {"flavor": self.flavor_view(req, self.find_flavor(parts[1]), "flavor-get-resp.json.tpl")}
            if len(parts) == 3 and parts[2] == "os-extra_specs" and m == "GET":
                return 200, {"extra_specs": dict(self.find_flavor(parts[1])["extra_specs"])}
            if len(parts) == 4 and parts[2] == "os-extra_specs" and m == "GET":
                flavor = self.find_flavor(parts[1])
                if parts[3] not in flavor["extra_specs"]:
                    raise nova_error(404, f"Flavor {flavor['id']} has no extra specs with key {parts[3]}.")
                return 200, {parts[3]: flavor["extra_specs"][parts[3]]}
        elif head == "os-keypairs":
            if len(parts) == 1 and m == "GET":
                return 200, self.keypair_list(req)
            if len(parts) == 1 and m == "POST":
                return self.keypair_create(req)
            if len(parts) == 2 and m == "GET":
                return 200, {"keypair": self.keypair_view(req, self.find_keypair(req, parts[1]), "keypairs-get-resp.json.tpl")}
            if len(parts) == 2 and m == "DELETE":
                keypair = self.find_keypair(req, parts[1])
                with self.peer.lock:
                    self.peer.keypairs.pop((keypair["user_id"], keypair["name"]), None)
                return (202 if req.version < (2, 2) else 204), None
        elif head == "servers":
            if len(parts) == 1 and m == "GET":
                return 200, self.server_list(req, detail=False)
            if len(parts) == 1 and m == "POST":
                return self.server_create(req)
            if parts == ["servers", "detail"] and m == "GET":
                return 200, self.server_list(req, detail=True)
            if len(parts) == 2 and m == "GET":
                with self.peer.lock:
                    server = self.find_server(req, parts[1])
                    return 200, {"server": self.server_view(req, server, "server-get-resp.json.tpl")}
            if len(parts) == 2 and m == "DELETE":
                return self.server_delete(req, parts[1])
            if len(parts) == 3 and parts[2] == "action" and m == "POST":
                return self.server_action(req, parts[1])
            if len(parts) == 4 and parts[2] == "metadata" and m == "PUT":
                return self.metadata_item_update(req, parts[1], urllib.parse.unquote(parts[3]))
            if len(parts) == 3 and parts[2] == "metadata" and m == "GET":
                with self.peer.lock:
                    return 200, {"metadata": dict(self.find_server(req, parts[1]).metadata)}
        elif head == "os-availability-zone" and len(parts) == 1 and m == "GET":
            template = self.samples.load("os-availability-zone", "availability-zone-list-resp.json.tpl", req.version)
            zone = template["availabilityZoneInfo"][0]
            return 200, {"availabilityZoneInfo": [conform(zone, {"zoneName": name, "zoneState": {"available": True},
                                                                 "hosts": None}) for name in AVAILABILITY_ZONES]}
        elif head == "limits" and len(parts) == 1 and m == "GET":
            return 200, self.limits(req)
        elif head == "images":
            # Nova's image proxy, deprecated since 2.36, is left to Glance.
            raise nova_error(404, "The resource could not be found.")
        known = {"flavors", "os-keypairs", "servers"}
        if head in known:
            raise nova_error(405, "The method specified is not allowed for this resource.") \
                if len(parts) <= 2 else nova_error(404, "The resource could not be found.")
        raise nova_error(404, "The resource could not be found.")

    def limits(self, req):
        """The project's limits and usage; only instances are limited here (cores and RAM: -1, unlimited)."""
        with self.peer.lock:
            self.peer.sweep(time.time())
            mine = [s for s in self.peer.servers.values() if s.project_id == req.project_id and s.deleted_at is None]
            groups = sum(1 for g in self.peer.security_groups.values() if g["project_id"] == req.project_id)
            keypairs = sum(1 for k in self.peer.keypairs.values() if k["user_id"] == req.user_id)
            fips = sum(1 for f in self.peer.floating_ips.values() if f["project_id"] == req.project_id)
        template = self.samples.load("limits", "limit-get-resp.json.tpl", req.version)["limits"]
        absolute = conform(template["absolute"], {
            "maxTotalInstances": INSTANCE_QUOTA, "totalInstancesUsed": len(mine),
            "maxTotalCores": -1, "totalCoresUsed": sum(s.flavor["vcpus"] for s in mine),
            "maxTotalRAMSize": -1, "totalRAMUsed": sum(s.flavor["ram"] for s in mine),
            "maxServerMeta": 128, "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240,
            "maxTotalKeypairs": 100, "maxServerGroups": 10, "maxServerGroupMembers": 10, "totalServerGroupsUsed": 0,
            "maxSecurityGroups": -1, "maxSecurityGroupRules": -1, "totalSecurityGroupsUsed": groups,
            "maxTotalFloatingIps": FLOATING_IP_QUOTA, "totalFloatingIpsUsed": fips, "totalKeypairsUsed": keypairs})
        return {"limits": {"absolute": absolute, "rate": []}}

    def version_document(self, req):
        document = self.samples.load("versions", "v21-version-get-resp.json.tpl")["version"]
        document["version"] = self.samples.max_version_text
        document["links"][0]["href"] = req.base_url + "/v2.1/"
        return document

    # --- flavors -------------------------------------------------------------------------

    def find_flavor(self, ident):
        for flavor in FLAVORS:
            if flavor["id"] == ident:
                return flavor
        raise nova_error(404, f"Flavor {ident} could not be found.")

    def flavor_values(self, req, flavor):
        return {"id": flavor["id"], "name": flavor["name"], "vcpus": flavor["vcpus"], "ram": flavor["ram"],
                "disk": flavor["disk"], "links": self.links(req, "flavors", flavor["id"]),
                "OS-FLV-DISABLED:disabled": False, "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": True,
                "swap": "" if req.version < (2, 75) else 0, "rxtx_factor": 1.0, "description": None,
                "extra_specs": dict(flavor["extra_specs"])}

    def flavor_view(self, req, flavor, sample):
        template = self.samples.load("flavors", sample, req.version)
        template = template.get("flavor") or template["flavors"][0]
        return conform(template, self.flavor_values(req, flavor))

    def flavor_list(self, req, detail):
        sample = "flavors-detail-resp.json.tpl" if detail else "flavors-list-resp.json.tpl"
        flavors = FLAVORS
        if req.param("minDisk"):
            flavors = [f for f in flavors if f["disk"] >= int(req.param("minDisk"))]
        if req.param("minRam"):
            flavors = [f for f in flavors if f["ram"] >= int(req.param("minRam"))]
        return {"flavors": [self.flavor_view(req, flavor, sample) for flavor in flavors]}

    # --- keypairs ------------------------------------------------------------------------

    def find_keypair(self, req, name):
        with self.peer.lock:
            keypair = self.peer.keypairs.get((req.user_id, name))
        if keypair is None:
            raise nova_error(404, f"Keypair {name} not found for user {req.user_id}")
        return keypair

    def keypair_values(self, keypair):
        return {"name": keypair["name"], "public_key": keypair["public_key"], "fingerprint": keypair["fingerprint"],
                "user_id": keypair["user_id"], "type": keypair["type"], "deleted": False,
                "created_at": keypair["created_at"], "updated_at": None, "deleted_at": None, "id": keypair["number"]}

    def keypair_view(self, req, keypair, sample):
        template = self.samples.load("os-keypairs", sample, req.version)
        if "keypairs" in template:
            template = template["keypairs"][0]
        return conform(template["keypair"], self.keypair_values(keypair))

    def keypair_list(self, req):
        with self.peer.lock:
            mine = sorted((k for k in self.peer.keypairs.values() if k["user_id"] == req.user_id), key=lambda k: k["name"])
        body = {"keypairs": [{"keypair": self.keypair_view(req, k, "keypairs-list-resp.json.tpl")} for k in mine]}
        return body

    def keypair_create(self, req):
        body = req.nova_body()
        if not isinstance(body, dict):
            raise invalid_input([], body, f"{body!r} is not of type 'object'")
        keypair = body.get("keypair")
        if "keypair" in body:
            path = ["keypair"]
            check_type(path, keypair, "object")
            pattern = KEYPAIR_NAME_V292 if req.version >= (2, 92) else KEYPAIR_NAME
            if "name" in keypair:
                check_string(path + ["name"], keypair["name"], 1, 255, pattern)
            if "public_key" in keypair:
                check_type(path + ["public_key"], keypair["public_key"], "string")
            if "type" in keypair:
                check_type(path + ["type"], keypair["type"], "string")
                if keypair["type"] not in ("ssh", "x509"):
                    raise invalid_input(path + ["type"], keypair["type"], f"{keypair['type']!r} is not one of ['ssh', 'x509']")
            required = ["name", "public_key"] if req.version >= (2, 92) else ["name"]
            for key in required:
                if key not in keypair:
                    raise invalid_input(path, keypair, f"{key!r} is a required property")
            check_keys(keypair, self.peer.keypair_create_tree["keypair"], path)
        if "keypair" not in body:
            raise invalid_input([], body, "'keypair' is a required property")
        extras = [k for k in body if k != "keypair"]
        if extras:
            raise invalid_input([], body, unexpected(extras))
        if "type" in keypair and req.version < (2, 2):
            raise invalid_input(["keypair"], keypair, unexpected(["type"]))
        key_type = keypair.get("type", "ssh")
        name = keypair["name"].strip()
        private_key = None
        if "public_key" in keypair:
            public_key = keypair["public_key"]
            if key_type != "ssh":
                raise nova_error(400, "Keypair data is invalid: failed to generate X509 fingerprint. Error message: "
                                      "Unable to load PEM file.")
            fingerprint = ssh_fingerprint(public_key)
            if fingerprint is None:
                raise nova_error(400, "Keypair data is invalid: failed to generate fingerprint")
        else:
            private_key, public_key = generate_keypair(name)
            fingerprint = ssh_fingerprint(public_key)
        with self.peer.lock:
            if (req.user_id, name) in self.peer.keypairs:
                raise nova_error(409, f"Key pair '{name}' already exists.")
            record = {"name": name, "public_key": public_key, "fingerprint": fingerprint, "user_id": req.user_id,
                      "type": key_type, "created_at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f"),
                      "created": time.time(), "number": len(self.peer.keypairs) + 1}
            self.peer.keypairs[(req.user_id, name)] = record
        sample = "keypairs-import-post-resp.json.tpl" if private_key is None else "keypairs-post-resp.json.tpl"
        view = self.keypair_view(req, record, sample)
        if private_key is not None:
            view["private_key"] = private_key
        return (200 if req.version < (2, 2) else 201), {"keypair": view}

    # --- servers -------------------------------------------------------------------------

    def find_server(self, req, ident):
        self.peer.sweep(time.time())
        server = self.peer.servers.get(ident)
        if server is None or server.project_id != req.project_id:
            raise nova_error(404, f"Instance {ident} could not be found.")
        return server

    def addresses(self, server):
        addresses = {}
        for port_id in server.port_ids:
            port = self.peer.ports.get(port_id)
            if port is None:
                continue
            network = next(n for n in self.peer.networks if n.id == port["network_id"])
            entries = addresses.setdefault(network.name, [])
            for fixed in port["fixed_ips"]:
                entries.append({"version": 4, "addr": fixed["ip_address"], "OS-EXT-IPS:type": "fixed",
                                "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
            for fip in self.peer.floating_ips.values():
                if fip["port_id"] == port_id:
                    entries.append({"version": 4, "addr": fip["floating_ip_address"], "OS-EXT-IPS:type": "floating",
                                    "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
        return addresses

    def server_values(self, req, server, now):
        status, vm_state, task_state, power_state = server.status(now)
        flavor = server.flavor
        e = self.endpoints(req)
        launched = server.created + server.build_seconds
        image = ({"id": server.image_id, "links": [{"href": f"{e['bookmark']}/images/{server.image_id}", "rel": "bookmark"}]}
                 if server.image_id and server.boot_volume_size is None else "")
        values = {
            "id": server.id, "name": server.name, "status": status, "tenant_id": server.project_id,
            "user_id": server.user_id, "metadata": dict(server.metadata), "hostId": server.host_id,
            "image": image,
            "flavor": {"id": flavor["id"], "links": [{"href": f"{e['bookmark']}/flavors/{flavor['id']}", "rel": "bookmark"}],
                       "vcpus": flavor["vcpus"], "ram": flavor["ram"], "disk": flavor["disk"], "ephemeral": 0,
                       "swap": 0, "original_name": flavor["name"], "extra_specs": dict(flavor["extra_specs"])},
            "created": now_iso(server.created), "updated": now_iso(max(server.updated, launched if status != "BUILD" else 0)),
            "addresses": self.addresses(server) if server.networked(now) else {}, "accessIPv4": "", "accessIPv6": "",
            "links": self.links(req, "servers", server.id),
            "key_name": server.key_name, "config_drive": "True" if server.config_drive else "",
            "progress": 0,
            "OS-DCF:diskConfig": server.disk_config,
            "OS-EXT-AZ:availability_zone": server.zone,
            "OS-EXT-SRV-ATTR:host": None if server.fault else "compute-1",
            "OS-EXT-SRV-ATTR:hypervisor_hostname": None if server.fault else "compute-1.localdomain",
            "OS-EXT-SRV-ATTR:instance_name": server.instance_name,
            "OS-EXT-SRV-ATTR:hostname": server.hostname, "OS-EXT-SRV-ATTR:kernel_id": "",
            "OS-EXT-SRV-ATTR:launch_index": 0, "OS-EXT-SRV-ATTR:ramdisk_id": "",
            "OS-EXT-SRV-ATTR:reservation_id": server.reservation_id,
            "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda", "OS-EXT-SRV-ATTR:user_data": server.user_data,
            "OS-EXT-STS:power_state": power_state, "OS-EXT-STS:task_state": task_state, "OS-EXT-STS:vm_state": vm_state,
            "OS-SRV-USG:launched_at": (datetime.datetime.fromtimestamp(launched, datetime.timezone.utc)
                                       .strftime("%Y-%m-%dT%H:%M:%S.%f") if status in ("ACTIVE", "SHUTOFF") else None),
            "OS-SRV-USG:terminated_at": None,
            "os-extended-volumes:volumes_attached": [{"id": v, "delete_on_termination": True} for v in server.volumes],
            "security_groups": [{"name": name} for name in server.security_group_names],
            "description": server.description, "host_status": "UP" if not server.fault else "",
            "locked": False, "locked_reason": None, "tags": list(server.tags), "trusted_image_certificates": None,
            "server_groups": [], "pinned_availability_zone": server.requested_zone,
            "scheduler_hints": dict(server.scheduler_hints),
        }
        return values

    def server_view(self, req, server, sample, brief=False):
        now = time.time()
        template = self.samples.load("servers", sample, req.version)
        template = template.get("server") or template["servers"][0]
        view = conform(template, self.server_values(req, server, now))
        status = server.status(now)[0]
        if server.fault and status == "ERROR" and not brief:
            # Nova adds "fault" to a server in ERROR that has one: its API reference's shape.
            view["fault"] = {"code": server.fault["code"], "created": server.fault["created"],
                             "message": server.fault["message"], "details": server.fault["details"]}
        return view

    def server_list(self, req, detail):
        now = time.time()
        with self.peer.lock:
            self.peer.sweep(now)
            servers = [s for s in self.peer.servers.values() if s.project_id == req.project_id]
            name = req.param("name")
            if name is not None:
                try:
                    pattern = re.compile(name)
                except re.error:
                    raise nova_error(400, f"Invalid regular expression: {name}")
                servers = [s for s in servers if pattern.search(s.name)]
            status = req.param("status")
            if status is not None:
                servers = [s for s in servers if s.status(now)[0] == status.upper()]
            for key, attribute in (("flavor", lambda s: s.flavor["id"]), ("image", lambda s: s.image_id),
                                   ("availability_zone", lambda s: s.zone), ("key_name", lambda s: s.key_name)):
                value = req.param(key)
                if value is not None:
                    servers = [s for s in servers if attribute(s) == value]
            servers.sort(key=lambda s: s.created, reverse=True)
            marker = req.param("marker")
            if marker is not None:
                ids = [s.id for s in servers]
                if marker not in ids:
                    raise nova_error(400, f"marker [{marker}] not found")
                servers = servers[ids.index(marker) + 1:]
            limit = req.param("limit")
            more = False
            if limit is not None:
                try:
                    limit = int(limit)
                    if limit < 0:
                        raise ValueError
                except ValueError:
                    raise invalid_input(["limit"], limit, f"{limit!r} does not match '^[0-9]*$'")
                more = len(servers) > limit
                servers = servers[:limit]
            sample = "servers-details-resp.json.tpl" if detail else "servers-list-resp.json.tpl"
            body = {"servers": [self.server_view(req, s, sample, brief=not detail) for s in servers]}
            if more:
                body["servers_links"] = [{"href": f"{req.base_url}/v2.1/servers{'/detail' if detail else ''}"
                                                  f"?limit={limit}&marker={servers[-1].id}", "rel": "next"}]
            return body

    def server_delete(self, req, ident):
        with self.peer.lock:
            self.peer.sweep(time.time())
            server = self.peer.servers.get(ident)
            if server is None or server.project_id != req.project_id:
                raise nova_error(404, "Instance could not be found")
            if server.deleted_at is None:
                server.note_power_off()  # a SHUTOFF server stays SHUTOFF (task_state deleting) until gone
                # Gone build_seconds after the delete: the time Nova takes to tear a server down.
                server.deleted_at = server.updated = time.time()
                server.delete_seconds = self.peer.build_seconds
                self.peer.remove_node(server)
        return 204, None

    def metadata_item_update(self, req, ident, key):
        """PUT /servers/{id}/metadata/{key}: Nova's schema (`meta`, one item, key and value of 1-255
        and 0-255 characters), the body's key must be the URI's, and the server must be in a state
        that takes metadata (not BUILD: 409, as check_instance_state answers)."""
        body = req.nova_body()
        if not isinstance(body, dict):
            raise invalid_input([], body, f"{body!r} is not of type 'object'")
        if "meta" not in body:
            raise invalid_input([], body, "'meta' is a required property")
        extras = [k for k in body if k != "meta"]
        if extras:
            raise invalid_input([], body, unexpected(extras))
        meta = body["meta"]
        check_type(["meta"], meta, "object")
        if not meta:
            raise invalid_input(["meta"], meta, "{} does not have enough properties")
        if len(meta) > 1:
            raise invalid_input(["meta"], meta, f"{meta!r} has too many properties")
        (item_key, value), = meta.items()
        if not re.fullmatch(r"[a-zA-Z0-9-_:. ]{1,255}", item_key):
            raise invalid_input(["meta"], meta, f"Additional properties are not allowed ({item_key!r} was unexpected)")
        check_string(["meta", item_key], value, 0, 255)
        if item_key != key:
            raise nova_error(400, "Request body and URI mismatch")
        with self.peer.lock:
            server = self.find_server(req, ident)
            status, vm_state, task_state, _ = server.status(time.time())
            if vm_state not in ("active", "stopped", "paused", "suspended") or task_state is not None:
                state = f"task_state {task_state}" if task_state else f"vm_state {vm_state}"
                raise nova_error(409, f"Cannot 'update_instance_metadata' instance {server.id} while it is in {state}")
            server.metadata[key] = value
            server.updated = time.time()
        return 200, {"meta": {key: value}}

    def server_action(self, req, ident):
        """POST /servers/{id}/action. Of Nova's actions only os-getConsoleOutput: the server's
        console, where cloud-init printed its SSH host keys (Tests/peers/cloud_console.py)."""
        body = req.nova_body()
        if not isinstance(body, dict) or len(body) != 1:
            raise nova_error(400, "Malformed request body")
        action = next(iter(body))
        if action != "os-getConsoleOutput":
            raise nova_error(400, f"There is no such action: {action}")
        # Nova's schema (servers' get_console_output): an object whose only key is `length`,
        # an integer (or its text) of -1 or more, or null.
        options = body[action]
        check_type([action], options, "object")
        check_keys(options, self.console_tree[action], [action])
        length = options.get("length")
        if length is not None:
            if isinstance(length, bool) or not isinstance(length, (int, str)) \
                    or not re.fullmatch(r"-?[0-9]+", str(length)) or int(length) < -1:
                raise invalid_input(["length"], length, f"{length!r} is not valid under any of the given schemas")
        with self.peer.lock:
            server = self.find_server(req, ident)
            status = server.status(time.time())[0]
            if status == "BUILD":
                # Not on a compute host yet: InstanceNotReady, which the API turns into a 409.
                raise nova_error(409, f"Instance {server.id} is not ready")
            keys = server.console_host_keys()
            lines = boot_console(server.hostname, keys, "DataSourceOpenStackLocal [net,ver=2]").split("\n")
            if not keys:
                lines = lines[:1]  # cloud-init has not got to its keys yet
        if length is not None and int(length) >= 0:
            lines = lines[-int(length):] if int(length) else []
        return 200, {"output": "\n".join(lines)}

    def server_create(self, req):
        body = req.nova_body()
        server = self.validate_create(req, body)
        return self.create(req, body, server)

    def validate_create(self, req, body):
        """Nova's request schema (from the samples' keys) and the rules of its create(), in its order."""
        version = req.version
        if not isinstance(body, dict):
            raise invalid_input([], body, f"{body!r} is not of type 'object'")
        # The keys of this request's microversion, as Nova's schema for it has them.
        tree = self.peer.server_create_tree_at(version)
        if "server" in body:
            server = body["server"]
            path = ["server"]
            check_type(path, server, "object")
            for key, value in server.items():
                self.check_server_field(path + [key], key, value, version, server)
            required = ["name", "flavorRef"] + (["networks"] if version >= (2, 37) else [])
            for key in required:
                if key not in server:
                    raise invalid_input(path, server, f"{key!r} is a required property")
            check_keys(server, tree["server"], path)
        for hints in ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"):
            if hints in body:
                check_type([hints], body[hints], "object")
        if "server" not in body:
            raise invalid_input([], body, "'server' is a required property")
        extras = [key for key in body if key not in tree]
        if extras:
            raise invalid_input([], body, unexpected(extras))
        return body["server"]

    def check_server_field(self, path, key, value, version, server):
        if key in ("name", "key_name", "availability_zone", "hostname"):
            check_string(path, value, 1, 255)
            if key == "name" and value != value.strip():
                raise invalid_input(path, value, f"{value!r} is not a 'name'")
        elif key == "flavorRef":
            check_type(path, value, ["string", "integer"])
            if isinstance(value, str) and len(value) < 1:
                raise invalid_input(path, value, f"{value!r} is too short")
        elif key == "imageRef":
            if not (isinstance(value, str) and (value == "" or is_uuid(value))):
                raise invalid_input(path, value, f"{value!r} is not valid under any of the given schemas")
        elif key == "metadata":
            check_type(path, value, "object")
            for meta_key, meta_value in value.items():
                if re.search(METADATA_KEY, meta_key):
                    check_string(path + [meta_key], meta_value, None, 255)
            extras = sorted(k for k in value if not re.search(METADATA_KEY, k))
            if extras:
                verb = "does" if len(extras) == 1 else "do"
                raise invalid_input(path, value, f"{', '.join(repr(e) for e in extras)} {verb} not match any of the "
                                                 f"regexes: {METADATA_KEY!r}")
        elif key == "networks":
            if version >= (2, 37):
                ok = value in ("none", "auto") or (isinstance(value, list) and all(
                    isinstance(item, dict) and not (set(item) - {"fixed_ip", "port", "uuid", "tag"})
                    and (not isinstance(item.get("uuid"), str) or is_uuid(item["uuid"]))
                    and ("tag" not in item or version >= (2, 42)) for item in value))
                if not ok:
                    raise invalid_input(path, value, f"{value!r} is not valid under any of the given schemas")
            else:
                check_type(path, value, "array")
                for index, item in enumerate(value):
                    check_type(path + [index], item, "object")
                    allowed = {"fixed_ip", "port", "uuid"} | ({"tag"} if (2, 32) <= version else set())
                    extras = [k for k in item if k not in allowed]
                    if extras:
                        raise invalid_input(path + [index], item, unexpected(extras))
                    if "uuid" in item:
                        check_type(path + [index, "uuid"], item["uuid"], "string")
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if "fixed_ip" in item:
                        try:
                            ipaddress.ip_address(item["fixed_ip"])
                        except ValueError:
                            raise invalid_input(path + [index, "fixed_ip"], item["fixed_ip"],
                                                f"{item['fixed_ip']!r} is not a 'ip-address'")
        elif key == "block_device_mapping_v2":
            check_type(path, value, "array")
            for index, item in enumerate(value):
                item_path = path + [index]
                check_type(item_path, item, "object")
                for field, field_value in item.items():
                    field_path = item_path + [field]
                    if field == "source_type" and field_value not in ("volume", "image", "snapshot", "blank"):
                        raise invalid_input(field_path, field_value,
                                            f"{field_value!r} is not one of ['volume', 'image', 'snapshot', 'blank']")
                    if field == "destination_type" and field_value not in ("local", "volume"):
                        raise invalid_input(field_path, field_value, f"{field_value!r} is not one of ['local', 'volume']")
                    if field == "uuid":
                        check_string(field_path, field_value, 1, 255, "^[a-zA-Z0-9._-]*$")
                    if field == "volume_size":
                        check_type(field_path, field_value, ["integer", "string"])
                        if isinstance(field_value, str) and not re.search("^[0-9]+$", field_value):
                            raise invalid_input(field_path, field_value, f"{field_value!r} does not match '^[0-9]+$'")
                        if isinstance(field_value, int) and field_value < 1:
                            raise invalid_input(field_path, field_value, f"{field_value!r} is less than the minimum of 1")
                    if field == "boot_index":
                        check_type(field_path, field_value, ["integer", "string", "null"])
                        if isinstance(field_value, str) and not re.search("^-?[0-9]+$", field_value):
                            raise invalid_input(field_path, field_value, f"{field_value!r} does not match '^-?[0-9]+$'")
                    if field == "delete_on_termination":
                        check_boolean(field_path, field_value)
                if "tag" in item and not ((2, 32) == version or version >= (2, 42)):
                    raise invalid_input(item_path, item, unexpected(["tag"]))
                if "volume_type" in item and version < (2, 67):
                    raise invalid_input(item_path, item, unexpected(["volume_type"]))
        elif key == "security_groups":
            check_type(path, value, "array")
            for index, item in enumerate(value):
                check_type(path + [index], item, "object")
                extras = [k for k in item if k != "name"]
                if extras:
                    raise invalid_input(path + [index], item, unexpected(extras))
                if "name" in item:
                    check_string(path + [index, "name"], item["name"], 1, 255)
        elif key in ("min_count", "max_count"):
            ok = (isinstance(value, int) and not isinstance(value, bool) and value >= 1) or \
                 (isinstance(value, str) and re.search("^[0-9]*$", value) and value and int(value) >= 1)
            if not ok:
                raise invalid_input(path, value, f"{value!r} is not valid under any of the given schemas")
        elif key in ("config_drive", "return_reservation_id"):
            check_boolean(path, value)
        elif key == "user_data":
            check_type(path, value, "string")
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise invalid_input(path, value, f"{value!r} is not a 'base64'")
            if len(value) > 65535:
                raise invalid_input(path, value, f"{value!r} is too long")
        elif key == "OS-DCF:diskConfig":
            if value not in ("AUTO", "MANUAL"):
                raise invalid_input(path, value, f"{value!r} is not one of ['AUTO', 'MANUAL']")
        elif key == "description":
            if version < (2, 19):
                raise invalid_input(path[:-1], server, unexpected(["description"]))
            check_type(path, value, ["string", "null"])
        elif key == "tags":
            if version < (2, 52):
                raise invalid_input(path[:-1], server, unexpected(["tags"]))
            check_type(path, value, "array")

    def create(self, req, body, server_dict):
        peer = self.peer
        version = req.version
        # availability zone
        zone = server_dict.get("availability_zone")
        # block devices (boot from volume)
        bdms = server_dict.get("block_device_mapping_v2") or []
        boot_volume_size = None
        boot_image = None
        for bdm in bdms:
            boot_index = bdm.get("boot_index")
            source = bdm.get("source_type")
            destination = bdm.get("destination_type", "volume" if source in ("volume", "snapshot") else "local")
            if source == "image" and destination == "volume":
                size = bdm.get("volume_size")
                if size in (None, 0, "0"):
                    raise nova_error(400, "Block Device Mapping is Invalid: Images with destination_type 'volume' "
                                          "need to have a non-zero size specified")
            if source in ("volume", "snapshot"):
                ident = bdm.get("uuid") or bdm.get("volume_id") or bdm.get("snapshot_id")
                kind = "Volume" if source == "volume" else "Snapshot"
                raise nova_error(400, f"{kind} {ident} could not be found.")
            if str(boot_index) == "0":
                if source != "image":
                    raise nova_error(400, "Block Device Mapping is Invalid: Boot sequence for the instance and image/"
                                          "block device mapping combination is not valid.")
                boot_image = bdm.get("uuid") or bdm.get("image_id")
                if destination == "volume":
                    boot_volume_size = int(bdm["volume_size"])
        image_ref = server_dict.get("imageRef")
        if not image_ref and not bdms:
            raise nova_error(400, "Missing imageRef attribute")
        image_id = image_ref or boot_image
        # networks
        requested = server_dict.get("networks", "auto" if version < (2, 37) else None)
        networks = []
        if isinstance(requested, list):
            seen_ports = []
            for item in requested:
                if item.get("port"):
                    if item["port"] in seen_ports:
                        raise nova_error(400, f"Port ID '{item['port']}' was specified twice: you cannot attach a port "
                                              f"multiple times.")
                    if item.get("fixed_ip") is not None:
                        raise nova_error(400, f"Specified Fixed IP '{item['fixed_ip']}' cannot be used with port "
                                              f"'{item['port']}': the two cannot be specified together.")
                    seen_ports.append(item["port"])
                    networks.append({"port": item["port"]})
                    continue
                if "uuid" not in item:
                    raise nova_error(400, "Bad network format: missing 'uuid'")
                if not is_uuid(item["uuid"]):
                    raise nova_error(400, f"Bad networks format: network uuid is not in proper format ({item['uuid']})")
                networks.append({"uuid": item["uuid"], "fixed_ip": item.get("fixed_ip")})
        # flavor
        flavor_ref = str(server_dict["flavorRef"]).rstrip("/").split("/")[-1]
        flavor = next((f for f in FLAVORS if f["id"] == flavor_ref), None)
        if flavor is None:
            raise nova_error(400, f"Flavor {flavor_ref} could not be found.")
        min_count = int(server_dict.get("min_count", 1))
        max_count = int(server_dict.get("max_count", min_count))
        if min_count > max_count:
            raise nova_error(400, "min_count must be <= max_count")
        if zone is not None and zone not in AVAILABILITY_ZONES:
            raise nova_error(400, "The requested availability zone is not available")
        image = next((i for i in IMAGES if i["id"] == image_id), None)
        if image is None:
            raise nova_error(400, "Can not find requested image")
        if boot_volume_size is not None:
            if boot_volume_size < image["min_disk"]:
                raise nova_error(400, f"Volume is smaller than the minimum size specified in image metadata. Volume size "
                                      f"is {boot_volume_size * GIB} bytes, minimum size is {image['min_disk'] * GIB} bytes.")
        elif flavor["disk"] < image["min_disk"]:
            raise nova_error(400, f"Flavor's disk is smaller than the minimum size specified in image metadata. Flavor "
                                  f"disk is {flavor['disk'] * GIB} bytes, minimum size is {image['min_disk'] * GIB} bytes.")
        with peer.lock:
            now = time.time()
            peer.sweep(now)
            key_name = server_dict.get("key_name")
            if key_name is not None and (req.user_id, key_name) not in peer.keypairs:
                raise nova_error(400, "Invalid key_name provided.")
            network_api = peer.neutron
            group_names = list(dict.fromkeys(g["name"] for g in server_dict.get("security_groups") or [] if g.get("name")))
            group_ids = []
            for name in group_names or ["default"]:
                group_ids.append(network_api.resolve_group(req.project_id, name))
            attach = []
            if requested == "auto" or requested is None and version < (2, 37):
                attach = [{"network": n} for n in peer.networks if not n.external]
            elif isinstance(requested, list):
                for item in networks:
                    if "port" in item:
                        port = peer.ports.get(item["port"])
                        if port is None or port["project_id"] != req.project_id:
                            raise nova_error(400, f"Port {item['port']} could not be found.")
                        if port["device_id"]:
                            raise nova_error(409, f"Port {item['port']} is still in use.")
                        attach.append({"port": port})
                        continue
                    network = next((n for n in peer.networks if n.id == item["uuid"]), None)
                    if network is None:
                        raise nova_error(400, f"Network {item['uuid']} could not be found.")
                    if network.external:
                        raise nova_error(403, f"It is not allowed to create an interface on external network {network.id}")
                    if item.get("fixed_ip"):
                        used = {p["fixed_ips"][0]["ip_address"]: p for p in peer.ports.values() if p["fixed_ips"]}
                        if item["fixed_ip"] in used:
                            raise nova_error(400, f"Fixed IP address {item['fixed_ip']} is already in use on instance "
                                                  f"{used[item['fixed_ip']]['device_id']}.")
                    attach.append({"network": network, "fixed_ip": item.get("fixed_ip")})
            used = sum(1 for s in peer.servers.values() if s.project_id == req.project_id and s.deleted_at is None)
            if used + min_count > INSTANCE_QUOTA:
                raise nova_error(403, f"Quota exceeded for instances: Requested {min_count}, but already used {used} of "
                                      f"{INSTANCE_QUOTA} instances")
            if peer.quota_refusals:
                refusal = peer.quota_refusals[0]
                refusal["count"] -= 1
                if refusal["count"] <= 0:
                    peer.quota_refusals.pop(0)
                message = (f"Quota exceeded for instances: Requested {min_count}, but already used {used} of "
                           f"{INSTANCE_QUOTA} instances")
                raise nova_error(refusal["status"], message)
            count = min(max_count, INSTANCE_QUOTA - used)
            reservation = "r-" + secrets.token_hex(4)
            created = []
            for index in range(count):
                name = server_dict["name"]
                if count > 1:
                    name = f"{name}-{index + 1}"
                fault = next((f for f in peer.faults if f["name_contains"] in name), None)
                server_id = str(uuid.uuid4())
                server = Server(
                    id=server_id, name=name, project_id=req.project_id, user_id=req.user_id, created=now, updated=now,
                    build_seconds=peer.build_seconds, deleted_at=None, delete_seconds=0, flavor=flavor,
                    image_id=image_id, boot_volume_size=boot_volume_size,
                    volumes=[str(uuid.uuid4())] if boot_volume_size is not None else [],
                    key_name=key_name, metadata=dict(server_dict.get("metadata", {})),
                    security_group_names=group_names or ["default"], requested_zone=zone, zone=zone or "nova",
                    network_names=[], port_ids=[], config_drive=str(server_dict.get("config_drive", "")).lower() in
                    ("true", "1", "yes", "on", "y", "t"),
                    disk_config=server_dict.get("OS-DCF:diskConfig", "MANUAL"),
                    host_id=hashlib.sha224((req.project_id + "compute-1").encode()).hexdigest(),
                    instance_name=f"instance-{len(peer.servers) + peer.counts['server_creates'] + 1:08x}",
                    hostname=re.sub(r"[^a-z0-9-]", "-", name.lower())[:63], reservation_id=reservation,
                    user_data=server_dict.get("user_data"), description=server_dict.get("description"),
                    tags=server_dict.get("tags") or [], admin_pass=secrets.token_urlsafe(9)[:12],
                    scheduler_hints=body.get("OS-SCH-HNT:scheduler_hints") or body.get("os:scheduler_hints") or {},
                    fault=None, host_keys=[new_host_key()],
                )
                if fault:
                    server.fault = {"code": 500, "created": now_iso(now + server.build_seconds), "message": fault["message"],
                                    "details": fault.get("details") or (
                                        "Traceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/nova/"
                                        "conductor/manager.py\", line 1654, in schedule_and_build_instances\n"
                                        f"nova.exception.NoValidHost: {fault['message']}\n")}
                for item in attach:
                    if "port" in item:
                        port = item["port"]
                        port.update(device_id=server_id, device_owner="compute:" + server.zone, status="ACTIVE")
                        network = next(n for n in peer.networks if n.id == port["network_id"])
                    else:
                        network = item["network"]
                        port = network_api.make_port(req.project_id, network, server_id, "compute:" + server.zone,
                                                     group_ids, item.get("fixed_ip"))
                    server.port_ids.append(port["id"])
                    if network.name not in server.network_names:
                        server.network_names.append(network.name)
                peer.servers[server_id] = server
                peer.boot_node(server)
                peer.counts["server_creates"] += 1
                created.append(server)
        first = created[0]
        if server_dict.get("return_reservation_id") and str(server_dict["return_reservation_id"]).lower() in (
                "true", "1", "yes", "on", "y", "t"):
            return 202, {"reservation_id": reservation}
        template = self.samples.load("servers", "server-create-resp.json.tpl", version)["server"]
        view = conform(template, {"id": first.id, "links": self.links(req, "servers", first.id),
                                  "adminPass": first.admin_pass, "OS-DCF:diskConfig": first.disk_config,
                                  "security_groups": [{"name": n} for n in first.security_group_names]})
        req.response_headers["Location"] = f"{req.base_url}/v2.1/servers/{first.id}"
        return 202, {"server": view}


def ssh_fingerprint(public_key):
    """Nova's fingerprint (MD5 of the key blob) of an OpenSSH public key, or None when it is not one."""
    parts = public_key.strip().split()
    if len(parts) < 2:
        return None
    kind, blob = parts[0], parts[1]
    try:
        data = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return None
    fields = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            return None
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        offset += 4
        if offset + length > len(data):
            return None
        fields.append(data[offset:offset + length])
        offset += length
    expected = {"ssh-rsa": 3, "ssh-ed25519": 2, "ecdsa-sha2-nistp256": 3, "ecdsa-sha2-nistp384": 3,
                "ecdsa-sha2-nistp521": 3, "ssh-dss": 5}
    if kind not in expected or not fields or fields[0] != kind.encode() or len(fields) != expected[kind]:
        return None
    if kind == "ssh-ed25519" and len(fields[1]) != 32:
        return None
    raw = hashlib.md5(data).hexdigest()
    return ":".join(a + b for a, b in zip(raw[::2], raw[1::2]))


def generate_keypair(name):
    """A new RSA key, as Nova makes one for a keypair created without a public key (before 2.92)."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "key")
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C",
                        "Generated-by-Nova", "-f", path], check=True, stdin=subprocess.DEVNULL)
        with open(path) as f:
            private_key = f.read()
        with open(path + ".pub") as f:
            public_key = f.read().strip()
    return private_key, public_key


# ---------------------------------------------------------------------------------------
# Neutron
# ---------------------------------------------------------------------------------------

PROTOCOLS = ["ah", "dccp", "egp", "esp", "gre", "hopopt", "icmp", "igmp", "ip", "ipip", "ipv6-encap", "ipv6-frag",
             "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route", "ospf", "pgm", "rsvp", "sctp", "tcp",
             "udp", "udplite", "vrrp", "any"]
PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58", "ipv6-icmp": "58", "sctp": "132"}

COMMON_QUERY = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"}
SG_ATTRIBUTES = {"id", "name", "description", "tenant_id", "project_id", "created_at", "updated_at",
                 "revision_number", "tags", "stateful", "shared", "security_group_rules"}
RULE_ATTRIBUTES = {"id", "tenant_id", "project_id", "security_group_id", "direction", "ethertype", "protocol",
                   "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id",
                   "remote_address_group_id", "normalized_cidr", "description", "created_at", "updated_at",
                   "revision_number", "belongs_to_default_sg"}
FIP_ATTRIBUTES = {"id", "tenant_id", "project_id", "floating_network_id", "floating_ip_address", "fixed_ip_address",
                  "port_id", "router_id", "status", "description", "dns_domain", "dns_name", "port_details",
                  "qos_policy_id", "tags", "created_at", "updated_at", "revision_number", "port_forwardings", "subnet_id"}
PORT_ATTRIBUTES = {"id", "name", "network_id", "tenant_id", "project_id", "mac_address", "admin_state_up", "status",
                   "device_id", "device_owner", "fixed_ips", "security_groups", "allowed_address_pairs",
                   "extra_dhcp_opts", "binding:vnic_type", "description", "created_at", "updated_at",
                   "revision_number", "tags", "port_security_enabled", "dns_name", "dns_assignment",
                   "ip_allocation", "propagate_uplink_status", "qos_policy_id", "qos_network_policy_id",
                   "resource_request", "hints", "trusted"}
NETWORK_ATTRIBUTES = {"id", "name", "tenant_id", "project_id", "status", "subnets", "admin_state_up", "shared",
                      "router:external", "mtu", "availability_zones", "availability_zone_hints",
                      "ipv4_address_scope", "ipv6_address_scope", "is_default", "port_security_enabled",
                      "qos_policy_id", "l2_adjacency", "description", "tags", "revision_number", "created_at",
                      "updated_at"}
SUBNET_ATTRIBUTES = {"id", "name", "network_id", "tenant_id", "project_id", "ip_version", "cidr", "gateway_ip",
                     "enable_dhcp", "allocation_pools", "dns_nameservers", "host_routes", "ipv6_address_mode",
                     "ipv6_ra_mode", "subnetpool_id", "segment_id", "service_types", "description", "tags",
                     "dns_publish_fixed_ip", "revision_number", "created_at", "updated_at"}


class Neutron:
    def __init__(self, peer):
        self.peer = peer

    def handle(self, req):
        parts = [p for p in req.rest.split("/") if p]
        if parts[:1] != ["v2.0"]:
            raise neutron_error(404, "HTTPNotFound", "The resource could not be found.")
        parts = parts[1:]
        if parts:
            parts[-1] = re.sub(r"\.json$", "", parts[-1])
        m = req.method
        if not parts:
            return 200, {"resources": [{"name": name, "collection": name + "s", "links": [
                {"href": f"{req.base_url}/v2.0/{name.replace('_', '-')}s", "rel": "self"}]}
                for name in ("network", "subnet", "port", "security_group", "security_group_rule", "floatingip")]}
        head = parts[0]
        with self.peer.lock:
            self.peer.sweep(time.time())
            self.ensure_default_group(req.project_id)
            if head == "networks":
                if len(parts) == 1 and m == "GET":
                    return 200, {"networks": self.listing(req, [n.resource() for n in self.peer.networks], NETWORK_ATTRIBUTES)}
                if len(parts) == 2 and m == "GET":
                    network = next((n for n in self.peer.networks if n.id == parts[1]), None)
                    if network is None:
                        raise neutron_error(404, "NetworkNotFound", f"Network {parts[1]} could not be found.")
                    return 200, {"network": self.fields(req, network.resource())}
            elif head == "subnets":
                if len(parts) == 1 and m == "GET":
                    return 200, {"subnets": self.listing(req, [n.subnet() for n in self.peer.networks], SUBNET_ATTRIBUTES)}
                if len(parts) == 2 and m == "GET":
                    network = next((n for n in self.peer.networks if n.subnet_id == parts[1]), None)
                    if network is None:
                        raise neutron_error(404, "SubnetNotFound", f"Subnet {parts[1]} could not be found.")
                    return 200, {"subnet": self.fields(req, network.subnet())}
            elif head == "ports":
                mine = [self.port_view(p) for p in self.peer.ports.values() if p["project_id"] == req.project_id]
                if len(parts) == 1 and m == "GET":
                    return 200, {"ports": self.listing(req, mine, PORT_ATTRIBUTES)}
                if len(parts) == 2 and m == "GET":
                    port = next((p for p in mine if p["id"] == parts[1]), None)
                    if port is None:
                        raise neutron_error(404, "PortNotFound", f"Port {parts[1]} could not be found.")
                    return 200, {"port": self.fields(req, port)}
            elif head == "security-groups":
                if len(parts) == 1 and m == "GET":
                    groups = [self.group_view(g) for g in self.peer.security_groups.values()
                              if g["project_id"] == req.project_id]
                    return 200, {"security_groups": self.listing(req, groups, SG_ATTRIBUTES)}
                if len(parts) == 1 and m == "POST":
                    return 201, {"security_group": self.group_create(req)}
                if len(parts) == 2:
                    group = self.find_group(req.project_id, parts[1])
                    if m == "GET":
                        return 200, {"security_group": self.fields(req, self.group_view(group))}
                    if m == "PUT":
                        update = self.body(req, "security_group", {"name", "description", "stateful"}, {})
                        group.update({k: v for k, v in update.items() if k in ("name", "description", "stateful")})
                        group["updated"] = time.time()
                        group["revision_number"] += 1
                        return 200, {"security_group": self.group_view(group)}
                    if m == "DELETE":
                        if group["name"] == "default":
                            raise neutron_error(409, "SecurityGroupCannotRemoveDefault",
                                                "Insufficient rights for removing default security group.")
                        if any(group["id"] in p["security_groups"] for p in self.peer.ports.values()):
                            raise neutron_error(409, "SecurityGroupInUse", f"Security Group {group['id']} in use.")
                        for rule_id in [r for r, rule in self.peer.rules.items() if rule["security_group_id"] == group["id"]]:
                            del self.peer.rules[rule_id]
                        del self.peer.security_groups[group["id"]]
                        return 204, None
            elif head == "security-group-rules":
                if len(parts) == 1 and m == "GET":
                    rules = [self.rule_view(r) for r in self.peer.rules.values() if r["project_id"] == req.project_id]
                    return 200, {"security_group_rules": self.listing(req, rules, RULE_ATTRIBUTES)}
                if len(parts) == 1 and m == "POST":
                    return 201, {"security_group_rule": self.rule_create(req)}
                if len(parts) == 2:
                    rule = self.peer.rules.get(parts[1])
                    if rule is None or rule["project_id"] != req.project_id:
                        raise neutron_error(404, "SecurityGroupRuleNotFound",
                                            f"Security group rule {parts[1]} does not exist")
                    if m == "GET":
                        return 200, {"security_group_rule": self.fields(req, self.rule_view(rule))}
                    if m == "DELETE":
                        del self.peer.rules[rule["id"]]
                        group = self.peer.security_groups.get(rule["security_group_id"])
                        if group:
                            group["revision_number"] += 1
                        return 204, None
            elif head == "floatingips":
                if m != "GET":
                    self.peer.nodes_changed.set()
                if len(parts) == 1 and m == "GET":
                    fips = [self.fip_view(f) for f in self.peer.floating_ips.values() if f["project_id"] == req.project_id]
                    return 200, {"floatingips": self.listing(req, fips, FIP_ATTRIBUTES)}
                if len(parts) == 1 and m == "POST":
                    return 201, {"floatingip": self.fip_create(req)}
                if len(parts) == 2:
                    fip = self.peer.floating_ips.get(parts[1])
                    if fip is None or fip["project_id"] != req.project_id:
                        raise neutron_error(404, "FloatingIPNotFound", f"Floating IP {parts[1]} could not be found")
                    if m == "GET":
                        return 200, {"floatingip": self.fields(req, self.fip_view(fip))}
                    if m == "PUT":
                        update = self.body(req, "floatingip", {"port_id", "fixed_ip_address", "description",
                                                               "qos_policy_id"}, {})
                        if "port_id" in update:
                            self.associate(req, fip, update["port_id"], update.get("fixed_ip_address"))
                        if "description" in update:
                            fip["description"] = update["description"] or ""
                        fip["updated"] = time.time()
                        fip["revision_number"] += 1
                        return 200, {"floatingip": self.fip_view(fip)}
                    if m == "DELETE":
                        del self.peer.floating_ips[fip["id"]]
                        return 204, None
            known = {"networks", "subnets", "ports", "security-groups", "security-group-rules", "floatingips"}
            if head in known and len(parts) <= 2:
                raise neutron_error(405, "HTTPMethodNotAllowed", "The method is not allowed for this resource.")
            raise neutron_error(404, "HTTPNotFound", "The resource could not be found.")

    # --- common --------------------------------------------------------------------------

    def body(self, req, resource, allowed, required):
        if not req.body:
            raise neutron_error(400, "BadRequest", f"Bad {resource} request: Resource body required")
        try:
            body = json.loads(req.body)
        except ValueError:
            raise neutron_error(400, "HTTPBadRequest", "Malformed request body")
        if not isinstance(body, dict) or resource not in body or not isinstance(body[resource], dict):
            raise neutron_error(400, "HTTPBadRequest", f"Unable to find '{resource}' in request body")
        item = body[resource]
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise neutron_error(400, "HTTPBadRequest", f"Unrecognized attribute(s) '{', '.join(unknown)}'")
        for key in required:
            if key not in item:
                raise neutron_error(400, "HTTPBadRequest", f"Failed to parse request. Required attribute '{key}' not specified")
        if item.get("project_id") and item.get("tenant_id") and item["project_id"] != item["tenant_id"]:
            raise neutron_error(400, "HTTPBadRequest", "'project_id' and 'tenant_id' do not match")
        for key in ("project_id", "tenant_id"):
            if item.get(key) and item[key] != req.project_id:
                raise neutron_error(403, "HTTPForbidden", f"(rule:create_{resource} and rule:create_{resource}:{key}) "
                                                          f"is disallowed by policy")
        return item

    def listing(self, req, items, attributes):
        """Neutron's filters: each query key an attribute (repeated values: any of them), else refused."""
        unknown = sorted(set(req.query) - attributes - COMMON_QUERY)
        if unknown:
            raise neutron_error(400, "HTTPBadRequest", f"[{', '.join(unknown)}] is invalid attribute for filtering")
        selected = []
        for item in items:
            keep = True
            for key, values in req.query.items():
                if key in COMMON_QUERY:
                    continue
                value = item.get(key)
                if isinstance(value, bool):
                    wanted = {v.lower() in ("true", "1") for v in values}
                    keep = value in wanted
                elif isinstance(value, list):
                    keep = any(v in [str(x) for x in value] for v in values)
                else:
                    keep = ("" if value is None else str(value)) in values
                if not keep:
                    break
            if keep:
                selected.append(self.fields(req, item))
        return selected

    def fields(self, req, item):
        wanted = req.query.get("fields")
        if not wanted:
            return item
        return {k: v for k, v in item.items() if k in wanted}

    # --- security groups -----------------------------------------------------------------

    def ensure_default_group(self, project_id):
        """Neutron makes a project's `default` group the first time the project uses the API."""
        if any(g["project_id"] == project_id and g["name"] == "default" for g in self.peer.security_groups.values()):
            return
        group = self.new_group(project_id, "default", "Default security group")
        for ethertype in ("IPv4", "IPv6"):
            self.new_rule(project_id, group["id"], "ingress", ethertype, remote_group_id=group["id"])

    def new_group(self, project_id, name, description, stateful=True):
        now = time.time()
        group = {"id": str(uuid.uuid4()), "name": name, "description": description, "project_id": project_id,
                 "stateful": stateful, "created": now, "updated": now, "revision_number": 1}
        self.peer.security_groups[group["id"]] = group
        for ethertype in ("IPv4", "IPv6"):
            self.new_rule(project_id, group["id"], "egress", ethertype)
        return group

    def new_rule(self, project_id, group_id, direction, ethertype, protocol=None, port_range_min=None,
                 port_range_max=None, remote_ip_prefix=None, remote_group_id=None, description=""):
        now = time.time()
        rule = {"id": str(uuid.uuid4()), "project_id": project_id, "security_group_id": group_id,
                "direction": direction, "ethertype": ethertype, "protocol": protocol,
                "port_range_min": port_range_min, "port_range_max": port_range_max,
                "remote_ip_prefix": remote_ip_prefix, "remote_group_id": remote_group_id,
                "description": description, "created": now}
        self.peer.rules[rule["id"]] = rule
        return rule

    def find_group(self, project_id, ident):
        group = self.peer.security_groups.get(ident)
        if group is None or group["project_id"] != project_id:
            raise neutron_error(404, "SecurityGroupNotFound", f"Security group {ident} does not exist")
        return group

    def resolve_group(self, project_id, name_or_id):
        """As Nova finds a requested group (neutronclient's find_resourceid_by_name_or_id)."""
        self.ensure_default_group(project_id)
        groups = [g for g in self.peer.security_groups.values() if g["project_id"] == project_id]
        by_id = [g for g in groups if g["id"] == name_or_id]
        if by_id:
            return by_id[0]["id"]
        by_name = [g for g in groups if g["name"] == name_or_id]
        if len(by_name) > 1:
            raise nova_error(409, f"Multiple security_group matches found for name '{name_or_id}', use an ID to be "
                                  f"more specific.")
        if not by_name:
            raise nova_error(400, f"Unable to find security_group with name or id '{name_or_id}'")
        return by_name[0]["id"]

    def rule_view(self, rule):
        cidr = rule["remote_ip_prefix"]
        return {"id": rule["id"], "tenant_id": rule["project_id"], "project_id": rule["project_id"],
                "security_group_id": rule["security_group_id"], "direction": rule["direction"],
                "ethertype": rule["ethertype"], "protocol": rule["protocol"],
                "port_range_min": rule["port_range_min"], "port_range_max": rule["port_range_max"],
                "remote_ip_prefix": cidr, "remote_group_id": rule["remote_group_id"],
                "remote_address_group_id": None, "normalized_cidr": cidr, "description": rule["description"],
                "belongs_to_default_sg": self.peer.security_groups.get(rule["security_group_id"], {}).get("name") == "default",
                "created_at": neutron_time(rule["created"]), "updated_at": neutron_time(rule["created"]),
                "revision_number": 0}

    def group_view(self, group):
        rules = [self.rule_view(r) for r in self.peer.rules.values() if r["security_group_id"] == group["id"]]
        return {"id": group["id"], "name": group["name"], "description": group["description"],
                "tenant_id": group["project_id"], "project_id": group["project_id"],
                "stateful": group["stateful"], "shared": False, "security_group_rules": rules, "tags": [],
                "created_at": neutron_time(group["created"]), "updated_at": neutron_time(group["updated"]),
                "revision_number": group["revision_number"]}

    def group_create(self, req):
        item = self.body(req, "security_group", {"name", "description", "tenant_id", "project_id", "stateful"}, [])
        for key in ("name", "description"):
            if key in item and not isinstance(item[key], str):
                raise neutron_error(400, "HTTPBadRequest", f"Invalid input for {key}. Reason: '{item[key]}' is not a valid string.")
            if len(item.get(key) or "") > 255:
                raise neutron_error(400, "HTTPBadRequest", f"Invalid input for {key}. Reason: '{item[key]}' exceeds maximum length of 255.")
        if item.get("name") == "default":
            raise neutron_error(409, "SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
        group = self.new_group(req.project_id, item.get("name", ""), item.get("description", ""),
                               item.get("stateful", True) is not False)
        return self.group_view(group)

    def rule_create(self, req):
        item = self.body(req, "security_group_rule", {
            "security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
            "remote_ip_prefix", "remote_group_id", "remote_address_group_id", "description", "tenant_id",
            "project_id"}, ["security_group_id", "direction"])
        if item["direction"] not in ("ingress", "egress"):
            raise neutron_error(400, "HTTPBadRequest",
                                f"Invalid input for direction. Reason: {item['direction']} is not in valid_values.")
        ethertype = item.get("ethertype", "IPv4")
        if ethertype not in ("IPv4", "IPv6"):
            raise neutron_error(400, "HTTPBadRequest",
                                f"Invalid input for ethertype. Reason: {ethertype} is not in valid_values.")
        protocol = item.get("protocol")
        if protocol is not None:
            protocol = str(protocol).lower()
            if protocol not in PROTOCOLS and not (protocol.isdigit() and 0 <= int(protocol) <= 255):
                raise neutron_error(400, "SecurityGroupRuleInvalidProtocol",
                                    f"Security group rule protocol {protocol} not supported. Only protocol values "
                                    f"{PROTOCOLS} and integer representations [0 to 255] are supported.")
            if protocol == "any":
                protocol = None
        ports = []
        for key in ("port_range_min", "port_range_max"):
            value = item.get(key)
            if value is not None:
                try:
                    value = int(value)
                    if not 0 <= value <= 65535:
                        raise ValueError
                except (TypeError, ValueError):
                    raise neutron_error(400, "HTTPBadRequest", f"Invalid input for {key}. Reason: '{item[key]}' is not "
                                                               f"a valid port number.")
            ports.append(value)
        low, high = ports
        if (low is not None or high is not None) and protocol is None:
            raise neutron_error(400, "SecurityGroupProtocolRequiredWithPorts",
                                "Must also specify protocol if port range is given.")
        if protocol in ("tcp", "udp", "6", "17", "sctp", "132", "dccp", "udplite"):
            if (low is None) != (high is None) or (low is not None and (low > high or low == 0)):
                if low == 0 or high == 0:
                    raise neutron_error(400, "SecurityGroupInvalidPortValue", "Invalid value for port 0.")
                raise neutron_error(400, "SecurityGroupInvalidPortRange",
                                    "For TCP/UDP protocols, port_range_min must be <= port_range_max")
        prefix = item.get("remote_ip_prefix")
        if prefix is not None and item.get("remote_group_id") is not None:
            raise neutron_error(400, "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                                "Only remote_ip_prefix or remote_group_id may be provided.")
        if prefix is not None:
            try:
                network = ipaddress.ip_network(prefix, strict=False)
            except ValueError:
                raise neutron_error(400, "HTTPBadRequest", f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is "
                                                           f"not a valid IP subnet.")
            if (network.version == 4) != (ethertype == "IPv4"):
                raise neutron_error(400, "SecurityGroupRuleParameterConflict",
                                    f"Conflicting value ethertype {ethertype} for CIDR {prefix}")
            prefix = str(network)
        group = self.find_group(req.project_id, item["security_group_id"])
        if item.get("remote_group_id") is not None:
            self.find_group(req.project_id, item["remote_group_id"])
        normal = PROTOCOL_NUMBERS.get(protocol, protocol)
        for rule in self.peer.rules.values():
            if rule["security_group_id"] != group["id"]:
                continue
            same = (rule["direction"] == item["direction"] and rule["ethertype"] == ethertype
                    and PROTOCOL_NUMBERS.get(rule["protocol"], rule["protocol"]) == normal
                    and rule["port_range_min"] == low and rule["port_range_max"] == high
                    and rule["remote_ip_prefix"] == prefix and rule["remote_group_id"] == item.get("remote_group_id"))
            if same:
                raise neutron_error(409, "SecurityGroupRuleExists",
                                    f"Security group rule already exists. Rule id is {rule['id']}.")
        rule = self.new_rule(req.project_id, group["id"], item["direction"], ethertype, protocol, low, high,
                             prefix, item.get("remote_group_id"), item.get("description") or "")
        group["revision_number"] += 1
        return self.rule_view(rule)

    # --- ports ---------------------------------------------------------------------------

    def make_port(self, project_id, network, device_id, device_owner, group_ids, fixed_ip=None):
        used = {p["fixed_ips"][0]["ip_address"] for p in self.peer.ports.values() if p["fixed_ips"]}
        address = fixed_ip or network.allocate(used)
        now = time.time()
        port = {"id": str(uuid.uuid4()), "name": "", "network_id": network.id, "project_id": project_id,
                "mac_address": "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3)),
                "device_id": device_id, "device_owner": device_owner, "status": "ACTIVE",
                "fixed_ips": [{"subnet_id": network.subnet_id, "ip_address": address}] if address else [],
                "security_groups": list(group_ids), "created": now, "updated": now}
        self.peer.ports[port["id"]] = port
        return port

    def port_view(self, port):
        return {"id": port["id"], "name": port["name"], "network_id": port["network_id"],
                "tenant_id": port["project_id"], "project_id": port["project_id"], "mac_address": port["mac_address"],
                "admin_state_up": True, "status": port["status"], "device_id": port["device_id"],
                "device_owner": port["device_owner"], "fixed_ips": [dict(f) for f in port["fixed_ips"]],
                "security_groups": list(port["security_groups"]), "allowed_address_pairs": [], "extra_dhcp_opts": [],
                "binding:vnic_type": "normal", "description": "", "tags": [], "port_security_enabled": True,
                "dns_name": "", "dns_assignment": [], "ip_allocation": "immediate", "propagate_uplink_status": False,
                "qos_policy_id": None, "qos_network_policy_id": None, "resource_request": None, "hints": None,
                "trusted": None, "created_at": neutron_time(port["created"]), "updated_at": neutron_time(port["updated"]),
                "revision_number": 1}

    # --- floating IPs --------------------------------------------------------------------

    def fip_view(self, fip):
        port = self.peer.ports.get(fip["port_id"]) if fip["port_id"] else None
        details = None
        if port:
            details = {"name": port["name"], "network_id": port["network_id"], "mac_address": port["mac_address"],
                       "admin_state_up": True, "status": port["status"], "device_id": port["device_id"],
                       "device_owner": port["device_owner"]}
        return {"id": fip["id"], "tenant_id": fip["project_id"], "project_id": fip["project_id"],
                "floating_network_id": fip["floating_network_id"], "floating_ip_address": fip["floating_ip_address"],
                "fixed_ip_address": fip["fixed_ip_address"], "port_id": fip["port_id"], "router_id": fip["router_id"],
                "status": fip["status"], "description": fip["description"], "dns_domain": "", "dns_name": "",
                "port_details": details, "qos_policy_id": None, "tags": [], "port_forwardings": [],
                "created_at": neutron_time(fip["created"]), "updated_at": neutron_time(fip["updated"]),
                "revision_number": fip["revision_number"]}

    def fip_create(self, req):
        item = self.body(req, "floatingip", {"floating_network_id", "port_id", "fixed_ip_address", "floating_ip_address",
                                              "subnet_id", "description", "dns_domain", "dns_name", "qos_policy_id",
                                              "tenant_id", "project_id"}, ["floating_network_id"])
        network = next((n for n in self.peer.networks if n.id == item["floating_network_id"]), None)
        if network is None:
            raise neutron_error(404, "NetworkNotFound", f"Network {item['floating_network_id']} could not be found.")
        if not network.external:
            raise neutron_error(400, "BadRequest", f"Bad floatingip request: Network {network.id} is not a valid "
                                                   f"external network.")
        if not isinstance(item.get("description", ""), str):
            raise neutron_error(400, "HTTPBadRequest", f"Invalid input for description. Reason: "
                                                       f"'{item['description']}' is not a valid string.")
        mine = [f for f in self.peer.floating_ips.values() if f["project_id"] == req.project_id]
        if len(mine) >= FLOATING_IP_QUOTA:
            raise neutron_error(409, "OverQuota", "Quota exceeded for resources: ['floatingip'].")
        used = {f["floating_ip_address"] for f in self.peer.floating_ips.values()}
        address = item.get("floating_ip_address")
        if address is not None:
            if address in used or address == network.subnet()["gateway_ip"]:
                raise neutron_error(409, "IpAddressAlreadyAllocated",
                                    f"IP address {address} already allocated in subnet {network.subnet_id}")
        else:
            address = network.allocate(used)
            if address is None:
                raise neutron_error(409, "IpAddressGenerationFailure",
                                    f"No more IP addresses available on network {network.id}.")
        now = time.time()
        fip = {"id": str(uuid.uuid4()), "project_id": req.project_id, "floating_network_id": network.id,
               "floating_ip_address": address, "fixed_ip_address": None, "port_id": None, "router_id": None,
               "status": "DOWN", "description": item.get("description") or "", "created": now, "updated": now,
               "revision_number": 0}
        if item.get("port_id") is not None:
            self.associate(req, fip, item["port_id"], item.get("fixed_ip_address"))
        self.peer.floating_ips[fip["id"]] = fip
        return self.fip_view(fip)

    def associate(self, req, fip, port_id, fixed_ip=None):
        if port_id is None:
            fip.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN")
            return
        port = self.peer.ports.get(port_id)
        if port is None or port["project_id"] != req.project_id:
            raise neutron_error(404, "PortNotFound", f"Port {port_id} could not be found.")
        if not port["fixed_ips"]:
            raise neutron_error(400, "BadRequest", f"Bad floatingip request: Port {port_id} does not have any fixed IP "
                                                   f"addresses.")
        address = fixed_ip or port["fixed_ips"][0]["ip_address"]
        for other in self.peer.floating_ips.values():
            if other["id"] != fip["id"] and other["port_id"] == port_id and other["fixed_ip_address"] == address:
                raise neutron_error(409, "FloatingIPPortAlreadyAssociated",
                                    f"Cannot associate floating IP {fip['floating_ip_address']} ({fip['id']}) with port "
                                    f"{port_id} using fixed IP {address}, as that fixed IP already has a floating IP on "
                                    f"external network {other['floating_network_id']}.")
        fip.update(port_id=port_id, fixed_ip_address=address, router_id=self.peer.router_id, status="ACTIVE")


# ---------------------------------------------------------------------------------------
# Glance
# ---------------------------------------------------------------------------------------

class Glance:
    def __init__(self, peer):
        self.peer = peer

    def image_view(self, image):
        created = now_iso(image["created"])
        digest = hashlib.sha512(image["name"].encode()).hexdigest()
        return {"id": image["id"], "name": image["name"], "status": "active", "visibility": "public",
                "protected": False, "os_hidden": False, "owner": ADMIN_PROJECT,
                "checksum": hashlib.md5(image["name"].encode()).hexdigest(), "os_hash_algo": "sha512",
                "os_hash_value": digest, "size": image["size"], "virtual_size": image["min_disk"] * GIB,
                "min_disk": image["min_disk"], "min_ram": 0, "disk_format": "qcow2", "container_format": "bare",
                "created_at": created, "updated_at": created, "tags": [], "os_distro": image["os_distro"],
                "os_version": image["os_version"], "os_admin_user": image["os_admin_user"],
                "hw_disk_bus": "virtio", "self": f"/v2/images/{image['id']}", "file": f"/v2/images/{image['id']}/file",
                "schema": "/v2/schemas/image"}

    def not_found(self, req, message):
        accept = req.headers.get("Accept", "")
        if "application/json" in accept:
            return ApiError(404, {"code": "404 Not Found", "title": "Not Found", "message": message + "<br /><br />\n\n\n"})
        text = f"404 Not Found\n\n{message}\n\n   "
        return ApiError(404, text, content_type="text/plain; charset=UTF-8")

    def handle(self, req):
        parts = [p for p in req.rest.split("/") if p]
        if parts[:1] != ["v2"]:
            raise self.not_found(req, "The resource could not be found.")
        parts = parts[1:]
        if parts == ["images"] and req.method == "GET":
            images = [self.image_view(i) for i in IMAGES]
            for key, values in req.query.items():
                if key in ("limit", "marker", "sort", "sort_key", "sort_dir", "member_status"):
                    continue
                value = values[-1]
                if key == "name" and value.startswith("in:"):
                    names = [n.strip('"') for n in value[3:].split(",")]
                    images = [i for i in images if i["name"] in names]
                elif key == "tag":
                    images = [i for i in images if set(values) <= set(i["tags"])]
                else:
                    # Any other key filters on that property, as Glance does (booleans as "true"/"false").
                    images = [i for i in images if (json.dumps(i.get(key)) if isinstance(i.get(key), bool)
                                                    else str(i.get(key))) == value]
            return 200, {"images": images, "schema": "/v2/schemas/images", "first": "/v2/images"}
        if len(parts) == 2 and parts[0] == "images" and req.method == "GET":
            image = next((i for i in IMAGES if i["id"] == parts[1]), None)
            if image is None:
                raise self.not_found(req, f"No image found with ID {parts[1]}")
            return 200, self.image_view(image)
        if parts[:1] == ["images"] and len(parts) <= 2:
            raise ApiError(405, "405 Method Not Allowed\n\nThe method is not allowed for this resource.\n\n   ",
                           content_type="text/plain; charset=UTF-8")
        raise self.not_found(req, "The resource could not be found.")


# ---------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------

class Handler(PeerHandler):
    server_version = "openstack-peer"

    def handle_request(self):
        peer = self.peer
        started = time.time()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        body = self.read_body()
        headers = {}
        try:
            if path.startswith("/_peer/"):
                status, payload = self.control(path, self.command, body)
                return self.respond(status, payload, started)
            # Counted before any check: a refused request was made all the same.
            peer.received.record(self.command, path, mutating=self.command not in SAFE_METHODS)
            parts = path.split("/", 3)  # "", label, service, rest
            if len(parts) < 3 or parts[1] not in LABELS or parts[2] not in ("compute", "network", "image"):
                raise ApiError(404, {"error": "not found", "message": f"no service at {path}"})
            label, service = parts[1], parts[2]
            rest = "/" + (parts[3] if len(parts) > 3 else "")
            with peer.lock:
                peer.requests[label] += 1
            base_url = f"http://{self.headers.get('Host') or '127.0.0.1'}/{label}/{service}"
            if rest.strip("/") == "" and self.command == "GET":
                return self.respond(*self.versions(service, base_url), started)
            token = peer.validate(self.headers.get("X-Auth-Token"))
            if token is None:
                with peer.lock:
                    peer.counts["rejected_tokens"] += 1
                raise keystone_unauthorized(peer.keystone_url)
            req = Request(peer, self.command, label, service, rest, query, body, dict(self.headers.items()), token, base_url)
            if not req.project_id:
                if service == "compute":
                    raise nova_error(403, "Policy doesn't allow os_compute_api:servers:index to be performed.")
                raise ApiError(403, {"error": {"code": 403, "title": "Forbidden",
                                               "message": "A project-scoped token is required."}})
            try:
                if service == "compute":
                    status, payload = peer.nova.handle(req)
                elif service == "network":
                    status, payload = peer.neutron.handle(req)
                else:
                    status, payload = peer.glance.handle(req)
            finally:
                headers = req.response_headers
            return self.respond(status, payload, started, headers)
        except ApiError as error:
            merged = dict(headers)
            merged.update(error.headers)
            self.respond(error.status, error.body, started, merged, error.content_type)
        except Exception as error:  # a bug in the peer: say so loudly
            import traceback
            traceback.print_exc()
            self.respond(500, {"computeFault": {"code": 500, "message": f"The OpenStack test peer failed: "
                                                                        f"{type(error).__name__}: {error}"}}, started)

    def versions(self, service, base_url):
        root = base_url
        if service == "compute":
            document = self.peer.samples.load("versions", "versions-get-resp.json.tpl")
            for version in document["versions"]:
                version["links"][0]["href"] = version["links"][0]["href"].replace("x/", root + "/")
                if version["id"] == "v2.1":
                    version["version"] = self.peer.samples.max_version_text
            return 200, document
        if service == "network":
            return 200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                       "links": [{"href": f"{root}/v2.0/", "rel": "self"}]}]}
        return 300, {"versions": [{"id": "v2.17", "status": "CURRENT",
                                   "links": [{"href": f"{root}/v2/", "rel": "self"}]}]}

    def respond(self, status, payload, started, headers=None, content_type="application/json"):
        elapsed = (time.time() - started) * 1000
        if payload is None:
            data = b""
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        detail = ""
        if status >= 400:
            detail = " " + (data[:300].decode(errors="replace") if data else "")
        log(f"{self.command} {self.path} → {status}{detail} ({elapsed:.0f} ms)")
        self.send_response(status)
        if data or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Openstack-Request-Id", "req-" + str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def control(self, path, method, body):
        peer = self.peer
        try:
            spec = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        try:
            if path == "/_peer/health":
                return 200, {"ok": True}
            if path == "/_peer/state" and method == "GET":
                return 200, peer.state()
            if path == "/_peer/requests" and method == "GET":
                return 200, peer.received.snapshot()
            if path == "/_peer/requests/reset" and method == "POST":
                return 200, peer.received.reset()
            if path == "/_peer/settings" and method == "POST":
                with peer.lock:
                    if "build_seconds" in spec:
                        peer.build_seconds = float(spec["build_seconds"])
                    return 200, {"build_seconds": peer.build_seconds}
            if path == "/_peer/inject" and method == "POST":
                return 200, peer.inject(spec)
            if path == "/_peer/inject" and method == "DELETE":
                with peer.lock:
                    peer.faults.clear()
                    peer.quota_refusals.clear()
                return 200, {"faults": [], "quota_refusals": []}
        except (ValueError, KeyError, TypeError) as error:
            return 400, {"error": str(error)}
        return 404, {"error": f"no control route {method} {path}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keystone", required=True, help="http://127.0.0.1:K/v3")
    parser.add_argument("--admin-password", required=True, help="the password of Keystone's `admin` (bootstrap)")
    parser.add_argument("--admin-user", default="admin")
    parser.add_argument("--admin-project", default="admin")
    parser.add_argument("--project-id", help="the project that owns the `private` network")
    parser.add_argument("--samples", required=True, help="Nova's api_samples folder (fetch-openstack.sh)")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--port-file", help="written (atomically) with the port once the peer listens")
    parser.add_argument("--build-seconds", type=float, default=0.3, help="how long a server is in BUILD (and DELETED)")
    parser.add_argument("--private-cidr", help="the tenant network `private` (default 10.0.0.0/24; with --nodes "
                                               "10.93.N.0/24)")
    parser.add_argument("--public-cidr", help="the external network `public` that floating IPs come from (default "
                                              "203.0.113.0/24; with --nodes 100.93.N.0/24, this machine at .1)")
    parser.add_argument("--nodes", help="boot a VM-like node for every server (vm_nodes.py), its files in this folder; "
                                        "the peer then runs until TERM, which removes the nodes")
    parser.add_argument("--node-images", default="/var/lib/cloudc/vm-images", help="where the stock image is built, once")
    parser.add_argument("--node-tag", default="os", help="names the nodes' bridge (ccvm-TAG)")
    parser.add_argument("--node-subnet", type=int, default=7, help="N of the networks' default ranges, with --nodes")
    parser.add_argument("--package-cache-port", type=int, help="the package cache the nodes with a floating IP use")
    parser.add_argument("--user-delay", type=float, default=float(os.environ.get("CLOUD_PEER_USER_DELAY", "5")),
                        help="seconds after sshd answers before the login user is made (CLOUD_PEER_USER_DELAY)")
    args = parser.parse_args()
    private_cidr = args.private_cidr or (f"10.93.{args.node_subnet}.0/24" if args.nodes else "10.0.0.0/24")
    public_cidr = args.public_cidr or (f"100.93.{args.node_subnet}.0/24" if args.nodes else "203.0.113.0/24")

    if not os.path.exists(os.path.join(args.samples, "max_api_version")):
        raise SystemExit(f"{args.samples} has no Nova API samples: run bash Tests/peers/fetch-openstack.sh")
    samples = Samples(args.samples)
    peer = Peer(samples, args.keystone, args.admin_password, args.admin_user, args.admin_project,
                args.build_seconds, args.project_id, private_cidr, public_cidr)
    peer.nova = Nova(peer)
    peer.neutron = Neutron(peer)
    peer.glance = Glance(peer)
    Handler.peer = peer
    if args.nodes:
        import signal
        import vm_nodes
        # This machine on the floating network only; the tenant network is behind the nodes.
        peer.nodes = vm_nodes.Backend(args.nodes, args.node_images, args.node_tag, args.package_cache_port,
                                      args.user_delay, internal=private_cidr, external=public_cidr, host_internal=False)
        threading.Thread(target=peer.follow_floating_ips, daemon=True).start()

        def shut_down(*_):
            peer.nodes.shutdown()
            os._exit(0)
        signal.signal(signal.SIGTERM, shut_down)
        signal.signal(signal.SIGINT, shut_down)
    server, port = listen(Handler, args.port)
    if not args.nodes:
        exit_with_parent()
    log(f"OpenStack peer on http://127.0.0.1:{port} (Nova samples {args.samples}, microversions 2.1–"
        f"{samples.max_version_text}; server create keys {sorted(peer.server_create_tree['server'])}), "
        f"Keystone {args.keystone}")
    serve(server, args.port_file)


if __name__ == "__main__":
    main()
