#!/usr/bin/env python3
"""A local Google Compute Engine peer for cloudc's tests.

It answers as Google does, from Google's documented behaviour:

* ``POST /token``: Google's OAuth 2.0 token endpoint. A service account's RS256 JWT
  (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``) is checked against the
  account's registered PUBLIC key; an authorized_user's refresh token (gcloud's
  application-default credentials) against its client id and secret. Errors are
  Google's (``{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}``).
* ``/compute/v1/projects/{project}/...``: the Compute Engine v1 REST API. Routes, query
  parameters, path-parameter patterns and request bodies are checked against Google's
  own discovery document (``.peers/compute.v1.json``, fetched by
  fetch-compute-discovery.sh), then against Google's semantic rules. Every request needs
  a bearer token this peer issued. Operations, instance states and errors have Google's
  shapes.
* ``GET /v1/services/{serviceId}/skus``: the Cloud Billing Catalog API's services.skus.list
  (cloudbilling.googleapis.com serves it at this path), for Compute Engine
  (``6F81-5844-456A``) only; gce_billing.py holds the catalogue and the method. Query
  parameters ``currencyCode`` (ISO 4217, default USD; a fixed rate per currency, given as
  ``currencyConversionRate``), ``pageSize`` (default and maximum 5000; more is coerced to 5000,
  less than 0 is INVALID_ARGUMENT), ``pageToken`` (only the ``nextPageToken``s this peer issued,
  for the same service, currency and time range), ``startTime``/``endTime`` (both or neither;
  the pricing's ``effectiveTime`` is the start). Needs a bearer token this peer issued with
  one of the scopes cloud-billing.readonly, cloud-billing or cloud-platform (the compute scope
  alone: 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT). An unknown service: 404 NOT_FOUND; another
  method or path under ``/v1/``: 404 "Method not found.". Errors have the one-platform shape
  ``{"error": {"code", "message", "status", "details"?}}`` (no ``errors`` array).
* ``/_peer/...``: a control API for tests (not Google's): fault injection and state.
  ``GET /_peer/requests`` counts what the peer received (so a test can check that a dry run
  made no mutating call): ``{"mutating": N, "total": M, "log": [[METHOD, PATH], ...]}``, the
  log the last 200 requests, oldest first. ``total`` is every request but ``/_peer/`` ones
  (``/token`` included); ``mutating`` every one of them whose method is not GET or HEAD, but
  not ``POST /token`` (operations' ``POST .../wait`` does count). A request counts as it
  arrives: one that is then refused (401/403, an invalid body, an injected fault) was still
  made. ``POST /_peer/requests/reset`` sets the counts to zero and answers with what they were.
* Regional quotas: ``regions.get`` / ``regions.list`` answer a Region (``kind`` compute#region,
  ``id``, ``creationTimestamp``, ``name``, ``description``, ``status`` UP, ``zones`` (links),
  ``quotas``, ``selfLink``, ``supportsPzs``) whose ``quotas`` is ``[{"metric", "limit", "usage"}]``
  with Google's metric names (DEFAULT_REGION_QUOTAS: the metrics, their order and default limits,
  e.g. CPUS 96, N2_CPUS 96, PREEMPTIBLE_CPUS 96, NVIDIA_T4_GPUS 4, NVIDIA_L4_GPUS 4,
  NVIDIA_A100_GPUS 0, IN_USE_ADDRESSES 32, INSTANCES 1500, DISKS_TOTAL_GB 4096, SSD_TOTAL_GB 2048).
  Numbers are written as Google's JSON writes doubles (24, not 24.0). The usage is counted from
  the project's instances and disks in the region at that moment: INSTANCES every instance (a
  TERMINATED one too); an instance that is not TERMINATED also counts its vCPUs (machine type's
  guestCpus) in its series' metric (N2_CPUS, C2_CPUS, A2_CPUS, ... FAMILY_CPU_METRICS; N1, E2 and
  G2 in CPUS), its GPUs (guestAccelerators, an accelerator-optimized type's built-in ones included)
  in NVIDIA_<T4|L4|A100>_GPUS, and its ephemeral external address in IN_USE_ADDRESSES. A Spot or
  preemptible instance counts its vCPUs in PREEMPTIBLE_CPUS and its GPUs in PREEMPTIBLE_NVIDIA_..._GPUS
  where that quota's limit is over 0, else in the standard metrics, as Google does for a project
  without preemptible quota. Disks (attached or left behind) count their size: pd-standard in
  DISKS_TOTAL_GB, pd-balanced, pd-ssd and pd-extreme in SSD_TOTAL_GB. instances.insert is refused
  as Google refuses it when the new instance would take a metric over its limit: the Operation
  ends DONE with error QUOTA_EXCEEDED ("Quota 'CPUS' exceeded.  Limit: 96.0 in region
  us-central1.", httpErrorStatusCode 403), the first metric short in the list's order named.
  Control: ``POST /_peer/quotas`` ``{"region", "metric", "limit"}`` (no region: every region;
  ``{"quotas": [...]}`` for several; the metric any of the discovery document's Quota.metric enum,
  a new one added to the list) and/or ``{"enforce": false}`` (regions.get still counts, inserts
  are not refused); ``GET /_peer/quotas`` ``{"enforce", "limits": {region: {metric: limit}}}``;
  ``DELETE /_peer/quotas`` restores the defaults. An injected ``quota`` fault (``/_peer/inject``)
  is applied before these limits. Limits are the same for every project the peer serves.

usage: gce_peer.py --discovery .peers/compute.v1.json --accounts accounts.json \
                   --project P [--port 0] [--port-file F] [--step-seconds 0.3]

accounts.json (written by gce_credentials.py): {"service_accounts": [{"client_email",
"private_key_id", "public_key" (PEM)}], "authorized_users": [{"client_id",
"client_secret", "refresh_token"}]}. The peer never sees a private key.

Only the standard library and ``cryptography``.
"""
import argparse
import base64
import datetime
import ipaddress
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import unicodedata
import urllib.parse
import uuid

import gce_billing
from cloud_console import new_host_key
from peer_http import PeerHandler, RequestCounter, SAFE_METHODS, listen, serve

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
# Google's resources link to themselves under this base, whichever endpoint was called.
GOOGLE_SELF_LINK_BASE = "https://www.googleapis.com/compute/v1/"
GOOGLE_COMPUTE_BASES = ("https://www.googleapis.com/compute/v1/", "https://compute.googleapis.com/compute/v1/")
COMPUTE_PREFIX = "/compute/v1/"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE_COMPUTE = "https://www.googleapis.com/auth/compute"
SCOPE_CLOUD = "https://www.googleapis.com/auth/cloud-platform"
WRITE_SCOPES = {SCOPE_COMPUTE, SCOPE_CLOUD}
READ_SCOPES = WRITE_SCOPES | {SCOPE_COMPUTE + ".readonly", SCOPE_CLOUD + ".read-only"}
TOKEN_LIFETIME = 3599
# Projects whose images every authenticated caller may read.
PUBLIC_IMAGE_PROJECTS = {"debian-cloud", "ubuntu-os-cloud", "deeplearning-platform-release", "rocky-linux-cloud"}
NAME_RE = "[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"
NAME_REGEX_MESSAGE = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"


def log(message):
    sys.stderr.write(time.strftime("%H:%M:%S ") + message + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------
# Errors, in Google's shape
# ---------------------------------------------------------------------------------------

class ApiError(Exception):
    """A Compute API error: {"error": {"code", "message", "errors": [{message, domain, reason}]}}."""

    def __init__(self, code, reason, message, status=None, more=(), headers=None, domain="global",
                 details=None, extra_fields=None, item_message=None):
        super().__init__(message)
        self.item_message = item_message or message
        self.code = code
        self.reason = reason
        self.message = message
        self.status = status
        self.more = list(more)  # further (reason, message) pairs, as Google lists several invalid fields
        self.headers = headers or {}
        self.domain = domain
        self.details = details
        self.extra_fields = extra_fields or {}

    def body(self):
        errors = [dict({"message": self.item_message, "domain": self.domain, "reason": self.reason}, **self.extra_fields)]
        errors += [{"message": m, "domain": "global", "reason": r} for r, m in self.more]
        error = {"code": self.code, "message": self.message, "errors": errors}
        if self.status:
            error["status"] = self.status
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_found(resource_path):
    return ApiError(404, "notFound", f"The resource '{resource_path}' was not found")


def already_exists(resource_path):
    return ApiError(409, "alreadyExists", f"The resource '{resource_path}' already exists")


def not_ready(resource_path):
    return ApiError(400, "resourceNotReady", f"The resource '{resource_path}' is not ready")


def invalid_message(field, value, why):
    return f"Invalid value for field '{field}': '{value}'. {why}"


def invalid(field, value, why):
    return ApiError(400, "invalid", invalid_message(field, value, why))


def required(field):
    return ApiError(400, "required", f"Required field '{field}' not specified")


def bad_request(message):
    return ApiError(400, "badRequest", message)


def payload_error(message, field):
    """What Google's JSON front end says about a body that does not fit the API's schema."""
    return ApiError(400, "invalid", message, status="INVALID_ARGUMENT", details=[{
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": field, "description": message}],
    }])


class OAuthError(Exception):
    """An error of Google's OAuth 2.0 server: {"error": ..., "error_description": ...}."""

    def __init__(self, code, error, description):
        super().__init__(description)
        self.code = code
        self.error = error
        self.description = description


def unauthenticated(missing):
    if missing:
        message = ("Request is missing required authentication credential. Expected OAuth 2 access token, "
                   "login cookie or other valid authentication credential. "
                   "See https://developers.google.com/identity/sign-in/web/devconsole-project.")
        return ApiError(401, "required", message, status="UNAUTHENTICATED", item_message="Login Required.",
                        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
                        extra_fields={"location": "Authorization", "locationType": "header"})
    message = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
               "or other valid authentication credential. "
               "See https://developers.google.com/identity/sign-in/web/devconsole-project.")
    return ApiError(401, "authError", message, status="UNAUTHENTICATED", item_message="Invalid Credentials",
                    headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
                    extra_fields={"location": "Authorization", "locationType": "header"})


def insufficient_scopes(method_id):
    return ApiError(403, "insufficientPermissions", "Request had insufficient authentication scopes.",
                    status="PERMISSION_DENIED", item_message="Insufficient Permission", details=[{
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
                        "metadata": {"service": "compute.googleapis.com", "method": method_id}}])


def forbidden(permission, resource):
    return ApiError(403, "forbidden", f"Required '{permission}' permission for '{resource}'")


# ---------------------------------------------------------------------------------------
# The discovery document: routes, parameters, schemas
# ---------------------------------------------------------------------------------------

def snake(name):
    """A JSON name as the proto field name Google's front end reports (networkIP → network_i_p)."""
    out = []
    for i, c in enumerate(name):
        if c.isupper():
            if i > 0:
                out.append("_")
            out.append(c.lower())
        else:
            out.append(c)
    return "".join(out)


class Route:
    def __init__(self, method_id, http_method, template, method):
        self.id = method_id
        self.http_method = http_method
        self.template = template
        self.method = method
        pattern = ""
        for part in re.split(r"(\{\+?[A-Za-z_]+\})", template):
            if part.startswith("{+"):
                pattern += f"(?P<{part[2:-1]}>.+)"
            elif part.startswith("{"):
                pattern += f"(?P<{part[1:-1]}>[^/]+)"
            else:
                pattern += re.escape(part)
        self.regex = re.compile(pattern + "$")
        self.literal = len(re.sub(r"\{[^}]*\}", "", template))


class Discovery:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        if document.get("id") != "compute:v1":
            raise SystemExit(f"{path} is not the Compute v1 discovery document (id {document.get('id')!r})")
        self.revision = document.get("revision")
        self.schemas = document["schemas"]
        self.global_parameters = document.get("parameters", {})
        self.routes = []
        self.methods = {}

        def walk(resources):
            for resource in resources.values():
                for method in resource.get("methods", {}).values():
                    route = Route(method["id"], method["httpMethod"], method.get("flatPath") or method["path"], method)
                    self.routes.append(route)
                    self.methods[method["id"]] = method
                walk(resource.get("resources", {}))

        walk(document["resources"])
        self.routes.sort(key=lambda r: -r.literal)

    def match(self, http_method, relative_path):
        """(route, path parameters) for a path under /compute/v1/, or an ApiError."""
        path_matched = False
        for route in self.routes:
            m = route.regex.match(relative_path)
            if not m:
                continue
            path_matched = True
            if route.http_method == http_method:
                return route, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
        if path_matched:
            raise ApiError(405, "httpMethodNotAllowed", f"HTTP method {http_method} is not supported by this URL")
        raise ApiError(404, "notFound", f"The requested URL /compute/v1/{relative_path} was not found on this server.")


class SchemaValidator:
    """Checks a request body against a discovery schema as Google's JSON front end does:
    unknown names, wrong JSON types, integers out of range, enum values. Output-only
    fields are accepted and ignored, as Google ignores them."""

    def __init__(self, schemas):
        self.schemas = schemas

    def validate(self, value, schema_name, path):
        return self._message(value, {"$ref": schema_name}, path, schema_name)

    def _type_name(self, schema, owner):
        if "$ref" in schema:
            return "type.googleapis.com/google.cloud.compute.v1." + schema["$ref"]
        if "enum" in schema:
            return f"type.googleapis.com/google.cloud.compute.v1.{owner}"
        t, fmt = schema.get("type"), schema.get("format")
        if t == "string":
            return {"int64": "TYPE_INT64", "uint64": "TYPE_UINT64", "byte": "TYPE_BYTES"}.get(fmt, "TYPE_STRING")
        if t == "integer":
            return {"uint32": "TYPE_UINT32"}.get(fmt, "TYPE_INT32")
        if t == "number":
            return {"float": "TYPE_FLOAT"}.get(fmt, "TYPE_DOUBLE")
        if t == "boolean":
            return "TYPE_BOOL"
        return f"type.googleapis.com/google.cloud.compute.v1.{owner}"

    def _bad_value(self, path, schema, owner, value):
        message = f"Invalid value at '{path}' ({self._type_name(schema, owner)}), {json.dumps(value)}"
        return payload_error(message, path)

    def _message(self, value, schema, path, owner):
        if "$ref" in schema:
            owner = schema["$ref"]
            schema = self.schemas[owner]
        if not isinstance(value, dict):
            raise self._bad_value(path, {"$ref": owner} if owner in self.schemas else schema, owner, value)
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                self._field(item, properties[key], f"{path}.{snake(key)}", owner, key)
            elif additional is not None:
                self._field(item, additional, f"{path}[{json.dumps(key)}]", owner, key)
            else:
                message = f'Invalid JSON payload received. Unknown name "{key}" at \'{path}\': Cannot find field.'
                raise payload_error(message, path)

    def _field(self, value, schema, path, owner, key):
        if value is None:  # JSON null is the field's default, as proto3 JSON reads it
            return
        t = schema.get("type")
        if t == "array":
            if not isinstance(value, list):
                raise self._bad_value(path, schema.get("items", {}), key[:1].upper() + key[1:], value)
            for i, item in enumerate(value):
                if item is None:  # unlike a field, an element cannot be left out with null
                    raise self._bad_value(f"{path}[{i}]", schema.get("items", {}), key[:1].upper() + key[1:], item)
                self._field(item, schema.get("items", {}), f"{path}[{i}]", owner, key)
            return
        if isinstance(value, list):
            parent = path.rsplit(".", 1)[0]
            message = (f'Invalid JSON payload received. Unknown name "{key}" at \'{parent}\': '
                       f"Proto field is not repeating, cannot start list.")
            raise payload_error(message, parent)
        if "$ref" in schema:
            return self._message(value, schema, path, owner)
        if t == "object" or (t is None and ("properties" in schema or "additionalProperties" in schema)):
            if not isinstance(value, dict):
                raise self._bad_value(path, schema, key[:1].upper() + key[1:], value)
            if "properties" in schema or "additionalProperties" in schema:
                return self._message(value, schema, path, key[:1].upper() + key[1:])
            return
        if t == "any":
            return
        if t == "string":
            fmt = schema.get("format")
            if fmt in ("int64", "uint64"):
                self._integer(value, schema, path, owner, 64, fmt == "uint64", strings=True)
                return
            if not isinstance(value, str):
                raise self._bad_value(path, schema, owner, value)
            if "enum" in schema and value not in schema["enum"]:
                raise self._bad_value(path, schema, owner + "." + key[:1].upper() + key[1:], value)
            if fmt == "byte":
                try:
                    base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), validate=True)
                except ValueError:
                    raise self._bad_value(path, schema, owner, value)
            return
        if t == "integer":
            self._integer(value, schema, path, owner, 32, schema.get("format") == "uint32", strings=False)
            return
        if t == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self._bad_value(path, schema, owner, value)
            return
        if t == "boolean":
            if not isinstance(value, bool):
                raise self._bad_value(path, schema, owner, value)
            return

    def _integer(self, value, schema, path, owner, bits, unsigned, strings):
        number = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif strings and isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
            number = int(value)
        if number is None:
            raise self._bad_value(path, schema, owner, value)
        low, high = (0, 2 ** bits - 1) if unsigned else (-2 ** (bits - 1), 2 ** (bits - 1) - 1)
        if not low <= number <= high:
            raise self._bad_value(path, schema, owner, value)


# ---------------------------------------------------------------------------------------
# The catalogue: zones, machine types, accelerator types, images (a small, real subset)
# ---------------------------------------------------------------------------------------

REGIONS = {
    # region: (zones, subnet of the default network's subnetwork there)
    "us-central1": (["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"], "10.128.0.0/20"),
    "us-east1": (["us-east1-b", "us-east1-c", "us-east1-d"], "10.142.0.0/20"),
    "europe-west1": (["europe-west1-b", "europe-west1-c", "europe-west1-d"], "10.132.0.0/20"),
}
ZONE_REGION = {zone: region for region, (zones, _) in REGIONS.items() for zone in zones}
CPU_PLATFORMS = ["Intel Cascade Lake", "Intel Ice Lake", "AMD Milan", "Intel Broadwell", "Intel Skylake"]

# name: (description, maximumCardsPerInstance, counts N1 accepts (None: only bundled), zones)
ACCELERATOR_TYPES = {
    "nvidia-tesla-t4": ("NVIDIA T4", 4, (1, 2, 4),
                        ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f",
                         "us-east1-c", "us-east1-d", "europe-west1-b", "europe-west1-d"]),
    "nvidia-l4": ("NVIDIA L4", 8, None,
                  ["us-central1-a", "us-central1-b", "us-central1-c", "us-east1-b", "us-east1-c", "us-east1-d",
                   "europe-west1-b", "europe-west1-c"]),
    "nvidia-tesla-a100": ("NVIDIA A100 40GB", 16, None,
                          ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f", "us-east1-b"]),
}


def _machine_types():
    types = {}
    for n in (1, 2, 4, 8, 16):
        types[f"n1-standard-{n}"] = dict(guestCpus=n, memoryMb=3840 * n, description=f"{n} vCPU{'s' if n > 1 else ''}, {3.75 * n:g} GB RAM")
    for n in (2, 4, 8, 16):
        types[f"e2-standard-{n}"] = dict(guestCpus=n, memoryMb=4096 * n, description=f"Efficient Instance, {n} vCPUs, {4 * n} GB RAM")
        types[f"n2-standard-{n}"] = dict(guestCpus=n, memoryMb=4096 * n, description=f"{n} vCPUs {4 * n} GB RAM")
    types["e2-medium"] = dict(guestCpus=2, memoryMb=4096, isSharedCpu=True,
                              description="Efficient Instance, 2 vCPU(s), 4 GB RAM (1 shared physical core)")
    types["a2-highgpu-1g"] = dict(guestCpus=12, memoryMb=87040,
                                  description="Accelerator Optimized: 1 NVIDIA Tesla A100 GPU, 12 vCPUs, 85GB RAM",
                                  accelerators=[{"guestAcceleratorType": "nvidia-tesla-a100", "guestAcceleratorCount": 1}])
    types["g2-standard-4"] = dict(guestCpus=4, memoryMb=16384,
                                  description="Accelerator Optimized: 1 NVIDIA L4 GPU, 4 vCPUs, 16GB RAM",
                                  accelerators=[{"guestAcceleratorType": "nvidia-l4", "guestAcceleratorCount": 1}])
    types["g2-standard-8"] = dict(guestCpus=8, memoryMb=32768,
                                  description="Accelerator Optimized: 1 NVIDIA L4 GPU, 8 vCPUs, 32GB RAM",
                                  accelerators=[{"guestAcceleratorType": "nvidia-l4", "guestAcceleratorCount": 1}])
    return types


MACHINE_TYPES = _machine_types()


def machine_type_zones(name):
    accelerators = MACHINE_TYPES[name].get("accelerators")
    if accelerators:
        return ACCELERATOR_TYPES[accelerators[0]["guestAcceleratorType"]][3]
    return list(ZONE_REGION)


# (project, name, family, diskSizeGb, creation date, deprecated by (a newer image's name) or None)
IMAGES = [
    ("debian-cloud", "debian-12-bookworm-v20241009", "debian-12", 10, "2024-10-09", "debian-12-bookworm-v20250113"),
    ("debian-cloud", "debian-12-bookworm-v20250113", "debian-12", 10, "2025-01-13", None),
    ("debian-cloud", "debian-11-bullseye-v20250113", "debian-11", 10, "2025-01-13", None),
    ("ubuntu-os-cloud", "ubuntu-2204-jammy-v20250112", "ubuntu-2204-lts", 10, "2025-01-12", None),
    ("ubuntu-os-cloud", "ubuntu-2404-noble-amd64-v20250117", "ubuntu-2404-lts-amd64", 10, "2025-01-17", None),
    ("deeplearning-platform-release", "common-cu124-v20250114-debian-11-py310", "common-cu124-debian-11-py310",
     50, "2025-01-14", None),
    ("rocky-linux-cloud", "rocky-linux-9-v20250114", "rocky-linux-9", 20, "2025-01-14", None),
]
DISK_TYPES = {"pd-standard", "pd-balanced", "pd-ssd", "pd-extreme"}

# Regional allocation quotas (regions.get's `quotas`): (metric, default limit), in the order the
# peer lists them. Metric names are Google's (every one is checked against the discovery
# document's Quota.metric enum at start). The limits are those of a project that has had billing
# for a while, larger than a brand-new project's (CPUS 24, N2_CPUS 24, IN_USE_ADDRESSES 8) so
# that the tests' clusters (a few e2/n1/n2 nodes of up to 8 vCPUs, a T4) never reach them.
# Tests change a limit with POST /_peer/quotas.
DEFAULT_REGION_QUOTAS = [
    ("CPUS", 96), ("DISKS_TOTAL_GB", 4096), ("STATIC_ADDRESSES", 8), ("IN_USE_ADDRESSES", 32),
    ("SSD_TOTAL_GB", 2048), ("LOCAL_SSD_TOTAL_GB", 6000), ("INSTANCE_GROUPS", 100), ("INSTANCE_GROUP_MANAGERS", 50),
    ("INSTANCES", 1500), ("AUTOSCALERS", 50), ("REGIONAL_AUTOSCALERS", 20), ("REGIONAL_INSTANCE_GROUP_MANAGERS", 20),
    ("PREEMPTIBLE_CPUS", 96), ("PREEMPTIBLE_LOCAL_SSD_GB", 0),
    ("NVIDIA_T4_GPUS", 4), ("PREEMPTIBLE_NVIDIA_T4_GPUS", 4),
    ("NVIDIA_L4_GPUS", 4), ("PREEMPTIBLE_NVIDIA_L4_GPUS", 4),
    ("NVIDIA_A100_GPUS", 0), ("PREEMPTIBLE_NVIDIA_A100_GPUS", 0),
    ("NVIDIA_A100_80GB_GPUS", 0), ("PREEMPTIBLE_NVIDIA_A100_80GB_GPUS", 0),
    ("NVIDIA_V100_GPUS", 0), ("PREEMPTIBLE_NVIDIA_V100_GPUS", 0),
    ("NVIDIA_P100_GPUS", 0), ("PREEMPTIBLE_NVIDIA_P100_GPUS", 0),
    ("NVIDIA_P4_GPUS", 0), ("PREEMPTIBLE_NVIDIA_P4_GPUS", 0),
    ("NVIDIA_K80_GPUS", 0), ("PREEMPTIBLE_NVIDIA_K80_GPUS", 0),
    ("N2_CPUS", 96), ("N2D_CPUS", 24), ("C2_CPUS", 24), ("C2D_CPUS", 24), ("C3_CPUS", 24), ("A2_CPUS", 24),
    ("M1_CPUS", 0), ("M2_CPUS", 0), ("M3_CPUS", 0), ("T2D_CPUS", 24), ("T2A_CPUS", 24),
    ("INTERNAL_ADDRESSES", 200), ("NETWORK_ENDPOINT_GROUPS", 100), ("SUBNETWORKS", 100),
]
# The machine series with a vCPU quota of their own (a VM of these counts there, not in CPUS).
# Every other series (N1, E2, G2, ...) counts in CPUS.
FAMILY_CPU_METRICS = {"n2": "N2_CPUS", "n2d": "N2D_CPUS", "c2": "C2_CPUS", "c2d": "C2D_CPUS", "c3": "C3_CPUS",
                      "a2": "A2_CPUS", "m1": "M1_CPUS", "m2": "M2_CPUS", "m3": "M3_CPUS", "t2d": "T2D_CPUS",
                      "t2a": "T2A_CPUS"}
# accelerator type → its GPU quota metric (a Spot or preemptible VM's: PREEMPTIBLE_ + it)
ACCELERATOR_QUOTA_METRICS = {"nvidia-tesla-t4": "NVIDIA_T4_GPUS", "nvidia-l4": "NVIDIA_L4_GPUS",
                             "nvidia-tesla-a100": "NVIDIA_A100_GPUS"}
# disk type → the quota its size counts in
DISK_QUOTA_METRICS = {"pd-standard": "DISKS_TOTAL_GB", "pd-balanced": "SSD_TOTAL_GB", "pd-ssd": "SSD_TOTAL_GB",
                      "pd-extreme": "SSD_TOTAL_GB"}


def cpu_quota_metric(machine_type):
    return FAMILY_CPU_METRICS.get(machine_type.split("-", 1)[0], "CPUS")


def quota_number(value):
    """A quota value as Google's JSON writes a double: 24, not 24.0 (2.5 stays 2.5)."""
    value = float(value)
    return int(value) if value.is_integer() else value


def stable_id(*parts):
    """A Google-like numeric id (uint64, as a decimal string), the same for the same parts."""
    digest = 0
    for c in "/".join(parts).encode():
        digest = (digest * 1099511628211 + c) % (2 ** 63)
    return str(1000000000000000000 + digest % 8000000000000000000)


def random_id():
    return str(secrets.randbelow(8 * 10 ** 18) + 10 ** 18)


def timestamp(t):
    """RFC 3339 with milliseconds, in Pacific time as Google writes it."""
    zone = datetime.timezone(datetime.timedelta(hours=-7))
    return datetime.datetime.fromtimestamp(t, zone).isoformat(timespec="milliseconds")


def fingerprint():
    return base64.b64encode(secrets.token_bytes(8)).decode()


# ---------------------------------------------------------------------------------------
# list filters, partial responses, paging
# ---------------------------------------------------------------------------------------

class FilterError(Exception):
    pass


class ListFilter:
    """Compute's list `filter`: `field = value`, `field != value`, `field : value` (has),
    `field:*` (present), `field eq regex` / `field ne regex` (the older form), joined by
    spaces or AND, OR, NOT, with parentheses. Nested fields with dots (labels.env = prod,
    scheduling.preemptible = true). Values may be quoted."""

    TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(!=|>=|<=|=|:|<|>)|([^\s()=!:<>"\']+))')

    def __init__(self, text, schema_properties):
        self.text = text
        self.properties = schema_properties
        self.tokens = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = self.TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise FilterError(text)
            pos = m.end()
            lparen, rparen, quoted, op, word = m.groups()
            if lparen:
                self.tokens.append(("(", "("))
            elif rparen:
                self.tokens.append((")", ")"))
            elif quoted:
                self.tokens.append(("value", re.sub(r"\\(.)", r"\1", quoted[1:-1])))
            elif op:
                self.tokens.append(("op", op))
            else:
                self.tokens.append(("word", word))
        self.pos = 0
        self.tree = self._sequence()
        if self.pos != len(self.tokens):
            raise FilterError(text)

    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def _sequence(self):
        terms = []
        while True:
            kind, value = self._peek()
            if kind is None or kind == ")":
                break
            if kind == "word" and value == "AND":
                self.pos += 1
                continue
            terms.append(self._factor())
        if not terms:
            raise FilterError(self.text)
        return ("and", terms)

    def _factor(self):
        terms = [self._term()]
        while self._peek() == ("word", "OR"):
            self.pos += 1
            terms.append(self._term())
        return ("or", terms) if len(terms) > 1 else terms[0]

    def _term(self):
        kind, value = self._peek()
        if kind == "(":
            self.pos += 1
            inner = self._sequence()
            if self._peek()[0] != ")":
                raise FilterError(self.text)
            self.pos += 1
            return inner
        if kind == "word" and value in ("NOT", "-"):
            self.pos += 1
            return ("not", self._term())
        if kind == "word" and value.startswith("-") and len(value) > 1:
            self.tokens[self.pos] = ("word", value[1:])
            return ("not", self._term())
        if kind != "word":
            raise FilterError(self.text)
        field = value
        self.pos += 1
        kind, op = self._peek()
        if kind == "word" and op in ("eq", "ne"):
            self.pos += 1
        elif kind == "op":
            self.pos += 1
        else:
            raise FilterError(self.text)
        kind, operand = self._peek()
        if kind not in ("word", "value"):
            raise FilterError(self.text)
        self.pos += 1
        if op in ("eq", "ne"):
            try:
                re.compile(operand)
            except re.error:
                raise FilterError(self.text)
        top = field.split(".")[0]
        if self.properties is not None and top not in self.properties:
            raise FilterError(self.text)
        return ("cmp", field, op, operand)

    def matches(self, resource):
        return self._eval(self.tree, resource)

    def _eval(self, node, resource):
        kind = node[0]
        if kind == "and":
            return all(self._eval(n, resource) for n in node[1])
        if kind == "or":
            return any(self._eval(n, resource) for n in node[1])
        if kind == "not":
            return not self._eval(node[1], resource)
        _, field, op, operand = node
        values = self._values(resource, field.split("."))
        texts = [self._text(v) for v in values]
        if op == ":":
            if operand == "*":
                return bool(values)
            return any(operand.lower() in t.lower() for t in texts)
        if op in ("eq", "ne"):
            hit = any(re.fullmatch(operand, t) for t in texts)
            return hit if op == "eq" else not hit
        if op == "=":
            return any(self._glob(operand, t) for t in texts)
        if op == "!=":
            return not any(self._glob(operand, t) for t in texts)
        # <, >, <=, >=: as numbers when both are, else as strings
        def compare(t):
            try:
                a, b = float(t), float(operand)
            except ValueError:
                a, b = t, operand
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return any(compare(t) for t in texts)

    @staticmethod
    def _glob(pattern, text):
        if "*" in pattern:
            return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), text) is not None
        return pattern == text

    @staticmethod
    def _text(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def _values(self, value, path):
        if isinstance(value, list):
            out = []
            for item in value:
                out += self._values(item, path)
            return out
        if not path:
            return [] if value is None or isinstance(value, dict) else [value]
        if not isinstance(value, dict) or path[0] not in value:
            return []
        return self._values(value[path[0]], path[1:])


def parse_fields(text):
    """A partial-response selector (`items(name,status),nextPageToken`) as a tree."""
    pos = 0

    def parse_list():
        nonlocal pos
        tree = {}
        while True:
            m = re.compile(r"\s*([A-Za-z0-9_*/.$-]+)\s*").match(text, pos)
            if not m:
                raise ValueError(text)
            pos = m.end()
            names = m.group(1).split("/")
            sub = None
            if pos < len(text) and text[pos] == "(":
                pos += 1
                sub = parse_list()
                if pos >= len(text) or text[pos] != ")":
                    raise ValueError(text)
                pos += 1
            node = tree
            for name in names[:-1]:
                if name in node and node[name] is None:
                    break  # already selected whole
                node = node.setdefault(name, {})
            else:
                node[names[-1]] = sub
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            return tree

    tree = parse_list()
    if pos != len(text):
        raise ValueError(text)
    return tree


def select_fields(value, tree):
    if tree is None:
        return value
    if isinstance(value, list):
        return [select_fields(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    if "*" in tree:  # every key (a map's), each selected by what follows the *
        return {k: select_fields(v, tree.get(k, tree["*"])) for k, v in value.items()}
    return {k: select_fields(value[k], sub) for k, sub in tree.items() if k in value}


# ---------------------------------------------------------------------------------------
# Resources held by the peer
# ---------------------------------------------------------------------------------------

class Operation:
    """A zonal or global Operation. Its status follows from the clock: PENDING at first,
    RUNNING, then DONE at `done_at` (with `error` when the work failed)."""

    def __init__(self, peer, project, scope, op_type, target_path, target_id, user, duration,
                 error=None, http_error=None, now=None):
        # `now`: the request's time, so the work it times (an instance's steps) and the operation agree.
        now = time.time() if now is None else now
        self.project = project
        self.scope = scope  # "zones/us-central1-a" or "global"
        self.name = "operation-%d-%s-%s-%s" % (now * 1000, secrets.token_hex(6)[:13], secrets.token_hex(4),
                                               secrets.token_hex(4))
        self.id = random_id()
        self.op_type = op_type
        self.target_path = target_path
        self.target_id = target_id
        self.user = user
        self.created_at = now
        self.done_at = now + duration
        self.error = error
        self.http_error = http_error
        self.peer = peer

    @property
    def path(self):
        return f"projects/{self.project}/{self.scope}/operations/{self.name}"

    def done(self, now):
        return now >= self.done_at

    def render(self, now):
        link = self.peer.self_link
        op = {
            "kind": "compute#operation",
            "id": self.id,
            "name": self.name,
            "operationType": self.op_type,
            "targetLink": link(self.target_path),
            "targetId": self.target_id,
            "status": "DONE",
            "user": self.user,
            "progress": 100,
            "insertTime": timestamp(self.created_at),
            "startTime": timestamp(self.created_at),
            "selfLink": link(self.path),
        }
        if self.scope.startswith("zones/"):
            op["zone"] = link(f"projects/{self.project}/{self.scope}")
        if not self.done(now):
            started = now - self.created_at
            op["status"] = "PENDING" if started < min(0.05, (self.done_at - self.created_at) / 4) else "RUNNING"
            op["progress"] = 0
            if op["status"] == "PENDING":
                del op["startTime"]
            return op
        op["endTime"] = timestamp(self.done_at)
        if self.error:
            op["error"] = {"errors": self.error}
            op["httpErrorStatusCode"], op["httpErrorMessage"] = self.http_error
        return op


class Instance:
    def __init__(self, project, zone, name, resource, created_at, network_ip, nat_ip, disks, insert_op):
        self.project = project
        self.zone = zone
        self.name = name
        self.id = resource["id"]
        self.resource = resource  # what GET shows, less the fields that follow from the clock
        self.created_at = created_at
        self.network_ip = network_ip
        self.nat_ip = nat_ip  # None: no access config asked for
        self.disks = disks  # [(disk name, autoDelete)]
        self.insert_op = insert_op
        self.deleting_at = None
        self.ssh_host_keys = None  # made on first use, as the VM's own first boot would
        self.delete_op = None
        self.node = None  # with --nodes: the VM-like node behind the instance (vm_nodes.Node)
        self.node_gone = None  # set once a deleted instance's node is powered off and removed

    @property
    def path(self):
        return f"projects/{self.project}/zones/{self.zone}/instances/{self.name}"

    def host_keys(self):
        """The VM's SSH host keys [(type, base64)]: its node's own, else made once."""
        if self.node is not None:
            return self.node.host_keys()
        if self.ssh_host_keys is None:
            self.ssh_host_keys = [new_host_key()]
        return self.ssh_host_keys

    def status(self, now, step):
        if self.deleting_at is not None:
            if self.node_gone is not None and not self.node_gone.is_set():
                return "STOPPING"
            return "STOPPING" if now < self.deleting_at + step else None
        elapsed = now - self.created_at
        if elapsed < step:
            return "PROVISIONING"
        if elapsed < 2 * step:
            return "STAGING"
        if self.node is not None:
            # As on GCE: RUNNING once the VM runs; a poweroff inside makes it TERMINATED.
            return {"running": "RUNNING", "terminated": "TERMINATED"}.get(self.node.state(), "STAGING")
        return "RUNNING"

    def render(self, now, step):
        status = self.status(now, step)
        resource = json.loads(json.dumps(self.resource))
        resource["status"] = status
        running = status == "RUNNING"
        resource["cpuPlatform"] = CPU_PLATFORMS[int(self.id) % len(CPU_PLATFORMS)] if running else "Unknown CPU Platform"
        if running or status == "STOPPING":
            resource["lastStartTimestamp"] = timestamp(self.created_at + 2 * step)
        # An ephemeral external address is given out while the instance is staged.
        if self.nat_ip and status in ("STAGING", "RUNNING"):
            resource["networkInterfaces"][0]["accessConfigs"][0]["natIP"] = self.nat_ip
        return resource


class Seeded:
    """The insert operation of a resource that was there before the peer started."""
    def done(self, now):
        return True


class Firewall:
    def __init__(self, project, name, resource, insert_op):
        self.project = project
        self.name = name
        self.resource = resource
        self.insert_op = insert_op
        self.delete_op = None

    @property
    def path(self):
        return f"projects/{self.project}/global/firewalls/{self.name}"


class Context:
    """One Compute request: its route, path parameters, query, body and caller."""

    def __init__(self, route, params, query, body, principal):
        self.route = route
        self.params = params
        self.query = query
        self.body = body
        self.principal = principal
        self.project = params.get("project")
        self.zone = params.get("zone")
        self.now = time.time()


LABEL_KEY_MESSAGE = ("Label key '{}' violates format constraints. The key must start with a lowercase character, "
                     "can only contain lowercase letters, numeric characters, underscores and dashes. The key can be "
                     "at most 63 characters long. International characters are allowed.")
LABEL_VALUE_MESSAGE = ("Label value '{}' violates format constraints. The value can only contain lowercase letters, "
                       "numeric characters, underscores and dashes. The value can be at most 63 characters long. "
                       "International characters are allowed.")


def _label_char(c):
    category = unicodedata.category(c)
    return category in ("Ll", "Lo") or category.startswith("N") or c in "_-"


def label_key_ok(key):
    return (0 < len(key) <= 63 and unicodedata.category(key[0]) in ("Ll", "Lo")
            and all(_label_char(c) for c in key))


def label_value_ok(value):
    return len(value) <= 63 and all(_label_char(c) for c in value)


def check_labels(labels, field, errors):
    """Google's rules for a resource's labels: at most 64, keys and values of its character set."""
    if len(labels) > 64:
        errors.invalid(field, "", "A resource can have at most 64 labels.")
    for key, value in labels.items():
        if not label_key_ok(key):
            errors.invalid(field, "", LABEL_KEY_MESSAGE.format(key))
        if not isinstance(value, str) or not label_value_ok(value):
            errors.invalid(field, "", LABEL_VALUE_MESSAGE.format(value))


class FieldErrors:
    """Google names every invalid field of a body at once (one entry each in errors[])."""

    def __init__(self):
        self.items = []

    def add(self, reason, message):
        self.items.append((reason, message))

    def invalid(self, field, value, why):
        self.add("invalid", invalid_message(field, value, why))

    def raise_if_any(self):
        if self.items:
            reason, message = self.items[0]
            raise ApiError(400, reason, message, more=self.items[1:])


# ---------------------------------------------------------------------------------------
# The peer: tokens, Compute methods, faults
# ---------------------------------------------------------------------------------------

class Peer:
    def __init__(self, discovery, accounts, projects, step_seconds, wait_timeout, token_lifetime):
        self.discovery = discovery
        self.validator = SchemaValidator(discovery.schemas)
        self.projects = set(projects)
        self.step = step_seconds
        self.wait_timeout = wait_timeout
        self.token_lifetime = token_lifetime
        self.own_base = None  # http://127.0.0.1:PORT/compute/v1/, set once bound
        self.token_url = None
        self.lock = threading.Lock()
        self.nodes = None  # --nodes: the VM-like nodes behind the instances (vm_nodes.Backend)
        self.service_accounts = {}
        for account in accounts.get("service_accounts", []):
            key = serialization.load_pem_public_key(account["public_key"].encode())
            if not isinstance(key, rsa.RSAPublicKey):
                raise SystemExit(f"{account['client_email']}: not an RSA public key")
            self.service_accounts.setdefault(account["client_email"], {})[account["private_key_id"]] = key
        self.authorized_users = {u["client_id"]: u for u in accounts.get("authorized_users", [])}
        self.tokens = {}
        self.instances = {}  # (project, zone, name) → Instance
        self.disks = {}  # (project, zone, name) → {"name", "sizeGb", "instance"}
        self.firewalls = {}  # (project, name) → Firewall
        for project in self.projects:
            self.seed_default_firewalls(project)
        self.operations = {}  # (project, scope, name) → Operation
        self.request_ids = {}  # (project, requestId) → {"method", "requests", "operation"}
        self.images = [dict(project=p, name=n, family=f, diskSizeGb=s, created=c, deprecated_by=d)
                       for p, n, f, s, c, d in IMAGES]
        self.next_ip = {}
        self.next_nat = 1
        self.faults = []
        self.events = []
        self.counts = {"token_grants": 0, "token_refusals": 0, "requests": 0, "instance_inserts": 0,
                       "instances_created": 0, "firewall_inserts": 0, "faults_applied": 0}
        self.received = RequestCounter()  # GET /_peer/requests
        # Regional quotas (regions.get): the limits, region → {metric: limit}; the usage is computed.
        self.quota_metrics = set(discovery.schemas["Quota"]["properties"]["metric"]["enum"])
        unknown = ({m for m, _ in DEFAULT_REGION_QUOTAS} | set(FAMILY_CPU_METRICS.values())
                   | set(ACCELERATOR_QUOTA_METRICS.values()) | {"PREEMPTIBLE_" + m for m in ACCELERATOR_QUOTA_METRICS.values()}
                   | set(DISK_QUOTA_METRICS.values())) - self.quota_metrics
        if unknown:
            raise SystemExit(f"quota metrics not in the discovery document's Quota.metric enum: {sorted(unknown)}")
        self.quota_limits = {}
        self.enforce_quotas = True
        self.reset_quotas()
        # The Cloud Billing Catalog (GET /v1/services/{service}/skus): the SKUs of this peer's regions.
        self.billing = gce_billing.Catalog(
            list(REGIONS), {name: {ZONE_REGION[z] for z in spec[3]} for name, spec in ACCELERATOR_TYPES.items()},
            select_fields=lambda result, text: select_fields(result, parse_fields(text)))

    def seed_default_firewalls(self, project):
        """The four rules a new project's default network carries (as Google documents them):
        SSH, RDP and ICMP from anywhere, and all traffic from every VM of the project."""
        rules = [
            ("default-allow-internal", "Allow internal traffic on the default network", ["10.128.0.0/9"],
             [{"IPProtocol": "tcp", "ports": ["0-65535"]}, {"IPProtocol": "udp", "ports": ["0-65535"]}, {"IPProtocol": "icmp"}]),
            ("default-allow-ssh", "Allow SSH from anywhere", ["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["22"]}]),
            ("default-allow-rdp", "Allow RDP from anywhere", ["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["3389"]}]),
            ("default-allow-icmp", "Allow ICMP from anywhere", ["0.0.0.0/0"], [{"IPProtocol": "icmp"}]),
        ]
        for name, description, ranges, allowed in rules:
            resource = {"kind": "compute#firewall", "id": stable_id("firewall", project, name),
                        "creationTimestamp": timestamp(0), "name": name, "description": description,
                        "network": self.self_link(f"projects/{project}/global/networks/default"), "priority": 65534,
                        "sourceRanges": ranges, "allowed": allowed, "direction": "INGRESS",
                        "logConfig": {"enable": False}, "disabled": False,
                        "selfLink": self.self_link(f"projects/{project}/global/firewalls/{name}")}
            self.firewalls[(project, name)] = Firewall(project, name, resource, Seeded())

    # ----- links and references

    def self_link(self, path):
        return GOOGLE_SELF_LINK_BASE + path

    def relative(self, value):
        """A full or partial resource URL, as the part under compute/v1/ (or None: not a URL of ours)."""
        for base in GOOGLE_COMPUTE_BASES + ((self.own_base,) if self.own_base else ()):
            if value.startswith(base):
                return value[len(base):]
        if value.startswith(("http://", "https://", "/")):
            return None
        return value

    def reference(self, ctx, value, pattern):
        """Parses a reference (`projects/p/zones/z/machineTypes/n`, `zones/z/...`, or a full URL)
        with `pattern` (named groups); the project defaults to the request's."""
        relative = self.relative(value) if isinstance(value, str) else None
        if relative is None:
            return None
        m = re.fullmatch(r"(?:projects/(?P<project>[^/]+)/)?" + pattern, relative)
        if not m:
            return None
        parts = m.groupdict()
        parts["project"] = parts["project"] or ctx.project
        return parts

    # ----- tokens

    def issue_token(self, principal, scopes):
        token = "ya29.c." + secrets.token_urlsafe(48)
        with self.lock:
            self.tokens[token] = {"principal": principal, "scopes": set(scopes),
                                  "expires": time.time() + self.token_lifetime}
            self.counts["token_grants"] += 1
            lifetime = self.token_lifetime
        return token, int(lifetime)

    def token_endpoint(self, form):
        try:
            return self._token_endpoint(form)
        except OAuthError:
            with self.lock:
                self.counts["token_refusals"] += 1
            raise

    def _token_endpoint(self, form):
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request", "Required parameter is missing: grant_type")
        if grant == JWT_BEARER:
            return self._jwt_grant(form)
        if grant == "refresh_token":
            return self._refresh_grant(form)
        raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")

    def _jwt_grant(self, form):
        assertion = form.get("assertion")
        if not assertion:
            raise OAuthError(400, "invalid_request", "Missing required parameter: assertion")
        parts = assertion.split(".")
        if len(parts) != 3:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: the assertion must be three base64url segments separated by dots.")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: the assertion's segments are not base64url-encoded JSON.")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: the header and claims must be JSON objects.")
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", issuer):
            raise OAuthError(400, "invalid_grant", "Not a valid email or user ID.")
        keys = self.service_accounts.get(issuer)
        if keys is None:
            raise OAuthError(400, "invalid_grant", "Invalid grant: account not found")
        # Google signs and checks with RS256 only; a key id, when sent, picks the key.
        if header.get("alg") != "RS256":
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        kid = header.get("kid")
        candidates = [keys[kid]] if kid in keys else ([] if kid is not None else list(keys.values()))
        signed = (parts[0] + "." + parts[1]).encode("ascii")
        verified = False
        for key in candidates:
            try:
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                verified = True
                break
            except InvalidSignature:
                pass
        if not verified:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != GOOGLE_TOKEN_URL:
            raise OAuthError(400, "invalid_grant",
                             f"Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URL}")
        iat, exp = claims.get("iat"), claims.get("exp")
        now = time.time()
        if (not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or isinstance(iat, bool)
                or isinstance(exp, bool) or exp <= iat or exp - iat > 3600 or exp <= now or iat > now + 300):
            raise OAuthError(400, "invalid_grant",
                             "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                             "timeframe. Check your iat and exp values in the JWT claim.")
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.strip():
            raise OAuthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token, lifetime = self.issue_token(issuer, scope.split())
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def _refresh_grant(self, form):
        client_id = form.get("client_id")
        if not client_id:
            raise OAuthError(400, "invalid_request", "Missing required parameter: client_id")
        user = self.authorized_users.get(client_id)
        if user is None:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if form.get("client_secret") != user["client_secret"]:
            raise OAuthError(401, "invalid_client", "Unauthorized")
        if not form.get("refresh_token"):
            raise OAuthError(400, "invalid_request", "Missing required parameter: refresh_token")
        if form.get("refresh_token") != user["refresh_token"]:
            raise OAuthError(400, "invalid_grant", "Bad Request")
        granted = user.get("scopes", [SCOPE_CLOUD, "openid", "https://www.googleapis.com/auth/userinfo.email"])
        asked = form.get("scope", "").split()
        if any(s not in granted for s in asked):
            raise OAuthError(400, "invalid_scope", "Bad Request")
        scopes = asked or granted
        token, lifetime = self.issue_token(user.get("email", "user@example.com"), scopes)
        return {"access_token": token, "expires_in": lifetime, "scope": " ".join(scopes), "token_type": "Bearer"}

    def bearer(self, header):
        """The token record an Authorization header names, or why not: "missing", "invalid", "expired"."""
        if not header:
            return None, "missing"
        m = re.fullmatch(r"Bearer\s+(\S+)", header.strip())
        if not m:
            return None, "invalid"
        with self.lock:
            token = self.tokens.get(m.group(1))
        if token is None:
            return None, "invalid"
        if token["expires"] <= time.time():
            return None, "expired"
        return token, None

    def authenticate(self, header):
        token, why = self.bearer(header)
        if token is None:
            raise unauthenticated(missing=why == "missing")
        return token

    def billing_request(self, http_method, path, query_string, authorization):
        """The Cloud Billing Catalog API (gce_billing.py): its answer, or a gce_billing.RpcError."""
        def authorize(method_id):
            token, why = self.bearer(authorization)
            if token is None:
                raise gce_billing.unauthenticated(why, method_id)
            return token
        return self.billing.handle(http_method, path, query_string, authorize)

    # ----- faults

    def take_fault(self, kinds, path, method, **match):
        """The first injected fault of one of `kinds` that matches, its count taken down by one."""
        with self.lock:
            return self.take_fault_locked(kinds, path, method, **match)

    def take_fault_locked(self, kinds, path, method, **match):
        for fault in self.faults:
            if fault["kind"] not in kinds:
                continue
            if "prefix" in fault and not path.startswith(fault["prefix"]):
                continue
            if fault.get("method") and fault["method"].upper() != method:
                continue
            if any(fault.get(k) not in (None, v) for k, v in match.items()):
                continue
            if fault.get("count") is not None:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.faults.remove(fault)
            self.counts["faults_applied"] += 1
            return dict(fault)
        return None

    def inject(self, spec):
        kind = spec.get("kind")
        allowed = {
            "http": {"status", "count", "prefix", "method"},
            "drop": {"count", "prefix", "method"},
            "delay": {"count", "prefix", "method", "seconds"},
            "capacity": {"zone", "machineType", "count", "code"},
            "quota": {"zone", "metric", "limit", "count", "synchronous"},
        }
        if kind not in allowed:
            raise ValueError(f"kind must be one of {sorted(allowed)}")
        unknown = set(spec) - allowed[kind] - {"kind"}
        if unknown:
            raise ValueError(f"unknown keys for {kind}: {sorted(unknown)}")
        fault = dict(spec)
        if kind in ("http", "drop", "delay"):
            fault.setdefault("prefix", "/")
            fault.setdefault("count", 1)
        if kind == "http" and fault.get("status") not in (429, 500, 503, 403):
            raise ValueError("http status must be 429, 500, 503 or 403")
        if kind == "capacity":
            if fault.get("zone") not in ZONE_REGION:
                raise ValueError(f"capacity needs a zone of {sorted(ZONE_REGION)}")
            fault.setdefault("code", "ZONE_RESOURCE_POOL_EXHAUSTED")
            if fault["code"] not in ("ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"):
                raise ValueError("code must be ZONE_RESOURCE_POOL_EXHAUSTED or ..._WITH_DETAILS")
        if kind == "quota":
            fault.setdefault("metric", "CPUS")
            fault.setdefault("limit", 24.0)
        if fault.get("count") is not None and (not isinstance(fault["count"], int) or fault["count"] < 1):
            raise ValueError("count must be a positive integer (or absent: every time)")
        with self.lock:
            self.faults.append(fault)
            return list(self.faults)

    def settings(self, spec):
        with self.lock:
            for key in spec:
                if key not in ("step_seconds", "wait_timeout", "token_lifetime"):
                    raise ValueError(f"unknown setting {key}")
            if "step_seconds" in spec:
                self.step = float(spec["step_seconds"])
            if "wait_timeout" in spec:
                self.wait_timeout = float(spec["wait_timeout"])
            if "token_lifetime" in spec:
                self.token_lifetime = float(spec["token_lifetime"])
            return {"step_seconds": self.step, "wait_timeout": self.wait_timeout, "token_lifetime": self.token_lifetime}

    def expire_tokens(self):
        with self.lock:
            for token in self.tokens.values():
                token["expires"] = 0
            return len(self.tokens)

    # ----- state, for tests

    def sweep(self, now):
        """Forgets what has finished going away. Called with the lock held."""
        for key, instance in list(self.instances.items()):
            if instance.status(now, self.step) is None:
                del self.instances[key]
                for disk, auto_delete in instance.disks:
                    if auto_delete:
                        self.disks.pop((instance.project, instance.zone, disk), None)
                    else:
                        self.disks[(instance.project, instance.zone, disk)]["instance"] = None
                self.events.append({"event": "instance.deleted", "name": instance.name, "zone": instance.zone,
                                    "time": instance.delete_op.done_at})
        for key, disk in list(self.disks.items()):
            if disk["delete_op"] is not None and disk["delete_op"].done(now):
                del self.disks[key]
                self.events.append({"event": "disk.deleted", "name": key[2], "zone": key[1],
                                    "time": disk["delete_op"].done_at})
        for key, firewall in list(self.firewalls.items()):
            if firewall.delete_op is not None and firewall.delete_op.done(now):
                del self.firewalls[key]
                self.events.append({"event": "firewall.deleted", "name": firewall.name,
                                    "time": firewall.delete_op.done_at})

    def state(self):
        with self.lock:
            now = time.time()
            self.sweep(now)
            instances = []
            for instance in sorted(self.instances.values(), key=lambda i: (i.zone, i.name)):
                resource = instance.render(now, self.step)
                scheduling = resource.get("scheduling", {})
                instances.append({
                    "name": instance.name, "zone": instance.zone, "project": instance.project,
                    "status": resource["status"], "labels": resource.get("labels", {}),
                    "machineType": resource["machineType"].rsplit("/", 1)[-1],
                    "networkIP": instance.network_ip, "natIP": instance.nat_ip,
                    "provisioningModel": scheduling.get("provisioningModel"),
                    "onHostMaintenance": scheduling.get("onHostMaintenance"),
                    "guestAccelerators": [{"acceleratorType": g["acceleratorType"].rsplit("/", 1)[-1],
                                           "acceleratorCount": g["acceleratorCount"]}
                                          for g in resource.get("guestAccelerators", [])],
                    "metadataKeys": [i["key"] for i in resource.get("metadata", {}).get("items", [])],
                    "tags": resource.get("tags", {}).get("items", []),
                    "hostKeys": [f"{kind} {key}" for kind, key in instance.ssh_host_keys or []],
                    "resource": resource,
                })
            firewalls = [dict(f.resource, deleting=f.delete_op is not None)
                         for f in sorted(self.firewalls.values(), key=lambda f: f.name)]
            return {
                "instances": instances,
                "firewalls": firewalls,
                "disks": [{"project": p, "zone": z, "name": n, "sizeGb": d["sizeGb"], "instance": d["instance"]}
                          for (p, z, n), d in sorted(self.disks.items())],
                "request_ids": {rid: dict(v) for (_, rid), v in self.request_ids.items()},
                "counts": dict(self.counts),
                "faults": list(self.faults),
                "events": list(self.events),
                "settings": {"step_seconds": self.step, "wait_timeout": self.wait_timeout,
                             "token_lifetime": self.token_lifetime},
                "discovery_revision": self.discovery.revision,
            }

    # ----- Compute: dispatch

    def compute(self, http_method, relative_path, query_string, body_bytes, authorization, content_type=None):
        route, params = self.discovery.match(http_method, relative_path)
        token = self.authenticate(authorization)
        method = route.method
        query = self._query(route, query_string)
        for name, value in params.items():
            spec = method.get("parameters", {}).get(name, {})
            pattern = spec.get("pattern")
            if pattern and not re.fullmatch(pattern, value):
                raise invalid(name, value, f"Must be a match of regex '{pattern}'")
        readonly = http_method == "GET" or route.id.endswith("Operations.wait")
        if not token["scopes"] & (READ_SCOPES if readonly else WRITE_SCOPES):
            raise insufficient_scopes(route.id)
        project = params.get("project")
        public_read = route.id.startswith("compute.images.") and readonly and project in PUBLIC_IMAGE_PROJECTS
        if project not in self.projects and not public_read:
            verb = route.id.rsplit(".", 1)[-1]
            verb = {"insert": "create", "aggregatedList": "list", "wait": "get"}.get(verb, verb)
            raise forbidden(f"{route.id.rsplit('.', 1)[0]}.{verb}", f"projects/{project}")
        body = None
        if "request" in method:
            if content_type and content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
                raise ApiError(400, "parseError", "This API does not support parsing form-encoded input.")
            body = self._body(route, body_bytes)
        handler = getattr(self, "m_" + route.id.split(".", 1)[1].replace(".", "_"), None)
        if handler is None:
            raise ApiError(501, "notImplemented", f"The GCE test peer does not implement {route.id}.")
        ctx = Context(route, params, query, body, token["principal"])
        result = handler(ctx)
        if "fields" in query:
            try:
                result = select_fields(result, parse_fields(query["fields"]))
            except ValueError:
                raise ApiError(400, "invalidParameter", f"Invalid field selection {query['fields']}")
        return result

    def _query(self, route, query_string):
        query = {}
        allowed = dict(self.discovery.global_parameters)
        allowed.update({k: v for k, v in route.method.get("parameters", {}).items() if v.get("location") == "query"})
        for name, value in urllib.parse.parse_qsl(query_string, keep_blank_values=True):
            spec = allowed.get(name)
            if spec is None:
                message = (f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                           f"Field '{name}' could not be found in request message.")
                raise payload_error(message, name)
            if spec.get("type") == "integer" and not re.fullmatch(r"-?[0-9]+", value):
                raise payload_error(f"Invalid value at '{snake(name)}' (TYPE_UINT32), \"{value}\"", name)
            if spec.get("type") == "boolean" and value not in ("true", "false"):
                raise payload_error(f"Invalid value at '{snake(name)}' (TYPE_BOOL), \"{value}\"", name)
            if "enum" in spec and value not in spec["enum"]:
                raise payload_error(f"Invalid value at '{snake(name)}', \"{value}\"", name)
            query[name] = value
        if query.get("alt", "json") != "json":
            raise bad_request(f"The GCE test peer answers alt=json only, not alt={query['alt']}.")
        return query

    def _body(self, route, body_bytes):
        schema = route.method["request"]["$ref"]
        text = body_bytes.decode("utf-8", errors="replace").strip()
        if not text:
            raise required("resource")
        try:
            body = json.loads(text)
        except ValueError as error:
            raise ApiError(400, "parseError", f"Invalid JSON payload received. {error.msg}.\n{text[:40]}\n^",
                           status="INVALID_ARGUMENT")
        if body == {}:
            raise required("resource")
        self.validator.validate(body, schema, snake(schema) + "_resource")
        return body

    # ----- Compute: lists

    def list_response(self, ctx, kind, items, path, schema):
        """items: resources (already rendered). Filter, order and page them as Google does."""
        q = ctx.query
        if "filter" in q and q["filter"].strip():
            try:
                flt = ListFilter(q["filter"], self.discovery.schemas[schema]["properties"])
            except FilterError:
                raise invalid("filter", q["filter"], "Invalid list filter expression.")
            items = [i for i in items if flt.matches(i)]
        order = q.get("orderBy", "name")
        if order == "name":
            items.sort(key=lambda i: i.get("name", ""))
        elif order == "creationTimestamp desc":
            items.sort(key=lambda i: i.get("creationTimestamp", ""), reverse=True)
        else:
            raise invalid("orderBy", order, "Only sorting by name or creationTimestamp desc is supported.")
        page, offset = self.page(q, len(items))
        result = {"kind": kind, "id": path, "selfLink": self.self_link(path)}
        if items[offset:offset + page]:
            result["items"] = items[offset:offset + page]
        if offset + page < len(items):
            result["nextPageToken"] = self.page_token(offset + page, q)
        return result

    def page(self, q, total):
        size = int(q.get("maxResults", "500"))
        if size < 0:
            raise invalid("maxResults", size, "Must be greater than or equal to 0")
        if size > 500:
            raise invalid("maxResults", size, "Must be less than or equal to 500")
        size = size or 500
        offset = 0
        if q.get("pageToken"):
            try:
                token = json.loads(base64.urlsafe_b64decode(q["pageToken"].encode() + b"==").decode())
                offset = int(token["o"])
                if token["f"] != q.get("filter", "") or not 0 <= offset <= total + size:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                raise invalid("pageToken", q["pageToken"], "Invalid page token.")
        return size, offset

    @staticmethod
    def page_token(offset, q):
        token = json.dumps({"o": offset, "f": q.get("filter", ""), "n": secrets.token_hex(4)})
        return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")

    # ----- Compute: zones, machine types, accelerator types, images, networks

    def check_zone(self, ctx):
        if ctx.zone not in ZONE_REGION:
            raise invalid("zone", ctx.zone, "Unknown zone.")

    def zone_resource(self, project, zone):
        region = ZONE_REGION[zone]
        return {
            "kind": "compute#zone", "id": stable_id("zone", zone), "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
            "name": zone, "description": zone, "status": "UP",
            "region": self.self_link(f"projects/{project}/regions/{region}"),
            "selfLink": self.self_link(f"projects/{project}/zones/{zone}"),
            "availableCpuPlatforms": CPU_PLATFORMS, "supportsPzs": False,
        }

    def m_zones_get(self, ctx):
        if ctx.zone not in ZONE_REGION:
            raise not_found(f"projects/{ctx.project}/zones/{ctx.zone}")
        return self.zone_resource(ctx.project, ctx.zone)

    def m_zones_list(self, ctx):
        items = [self.zone_resource(ctx.project, z) for z in ZONE_REGION]
        return self.list_response(ctx, "compute#zoneList", items, f"projects/{ctx.project}/zones", "Zone")

    # ----- Compute: regions and their quotas

    def reset_quotas(self):
        self.quota_limits = {region: dict(DEFAULT_REGION_QUOTAS) for region in REGIONS}

    def set_quotas(self, spec):
        """POST /_peer/quotas: {"region"?, "metric", "limit"} (no region: every region), or
        {"quotas": [those]}, and/or {"enforce": bool}. Answers as GET /_peer/quotas."""
        if not isinstance(spec, dict):
            raise ValueError("the body must be a JSON object")
        unknown = set(spec) - {"region", "metric", "limit", "quotas", "enforce"}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        items = list(spec.get("quotas") or [])
        if "metric" in spec or "limit" in spec or "region" in spec:
            items.append({k: spec[k] for k in ("region", "metric", "limit") if k in spec})
        changes = []
        for item in items:
            region, metric, limit = item.get("region"), item.get("metric"), item.get("limit")
            if region is not None and region not in REGIONS:
                raise ValueError(f"region must be one of {sorted(REGIONS)}")
            if metric not in self.quota_metrics:
                raise ValueError(f"metric {metric!r} is not one of Google's (the discovery document's Quota.metric enum)")
            if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0:
                raise ValueError("limit must be a number, 0 or more")
            changes.append(([region] if region else list(REGIONS), metric, float(limit)))
        if "enforce" in spec and not isinstance(spec["enforce"], bool):
            raise ValueError("enforce must be true or false")
        with self.lock:
            for regions, metric, limit in changes:
                for region in regions:
                    self.quota_limits[region][metric] = limit
            if "enforce" in spec:
                self.enforce_quotas = spec["enforce"]
            return self.quotas_state()

    def quotas_state(self):
        return {"enforce": self.enforce_quotas,
                "limits": {region: {m: quota_number(v) for m, v in limits.items()}
                           for region, limits in self.quota_limits.items()}}

    @staticmethod
    def quota_charges(limits, machine_type, preemptible, accelerators, active, external_ip):
        """What one VM counts in its region's quotas: {metric: amount}. A VM that is not TERMINATED
        (stopped) counts its vCPUs (in its series' metric, else CPUS), its GPUs and its ephemeral
        external address; a Spot or preemptible one counts its vCPUs and GPUs in the PREEMPTIBLE_
        metrics where the region has such a quota (a limit over 0), else in the standard ones."""
        charges = {"INSTANCES": 1}
        if not active:
            return charges

        def add(metric, amount):
            charges[metric] = charges.get(metric, 0) + amount
        metric = cpu_quota_metric(machine_type)
        if preemptible and limits.get("PREEMPTIBLE_CPUS", 0) > 0:
            metric = "PREEMPTIBLE_CPUS"
        add(metric, MACHINE_TYPES[machine_type]["guestCpus"])
        for accelerator, count in accelerators:
            metric = ACCELERATOR_QUOTA_METRICS[accelerator]
            if preemptible and limits.get("PREEMPTIBLE_" + metric, 0) > 0:
                metric = "PREEMPTIBLE_" + metric
            add(metric, count)
        if external_ip:
            add("IN_USE_ADDRESSES", 1)
        return charges

    def quota_usage(self, project, region, now):
        """{metric: usage} of a project's region, from its live instances and disks. Lock held."""
        self.sweep(now)
        limits = self.quota_limits[region]
        usage = {}
        for instance in self.instances.values():
            if instance.project != project or ZONE_REGION[instance.zone] != region:
                continue
            resource = instance.resource
            scheduling = resource.get("scheduling") or {}
            accelerators = [(g["acceleratorType"].rsplit("/", 1)[-1], int(g["acceleratorCount"]))
                            for g in resource.get("guestAccelerators") or []]
            charges = self.quota_charges(
                limits, resource["machineType"].rsplit("/", 1)[-1],
                bool(scheduling.get("preemptible")) or scheduling.get("provisioningModel") == "SPOT",
                accelerators, instance.status(now, self.step) != "TERMINATED", instance.nat_ip is not None)
            for metric, amount in charges.items():
                usage[metric] = usage.get(metric, 0) + amount
        for (p, zone, _), disk in self.disks.items():
            if p == project and ZONE_REGION[zone] == region:
                metric = DISK_QUOTA_METRICS.get(disk["type"], "DISKS_TOTAL_GB")
                usage[metric] = usage.get(metric, 0) + int(disk["sizeGb"])
        return usage

    def quota_refusal(self, ctx, plan):
        """The regional quota this insert would exceed: (metric, limit) or None. Lock held."""
        if not self.enforce_quotas:
            return None
        region = ZONE_REGION[ctx.zone]
        limits = self.quota_limits[region]
        usage = self.quota_usage(ctx.project, region, ctx.now)
        scheduling = plan["scheduling"]
        needed = self.quota_charges(limits, plan["machine_type"],
                                    bool(scheduling.get("preemptible")) or scheduling.get("provisioningModel") == "SPOT",
                                    plan["guest_accelerators"], True, plan["access_config"])
        for given, (name, _, size) in zip(ctx.body["disks"], plan["disks"]):
            if given.get("source"):  # an existing disk already counts
                continue
            kind = (given.get("initializeParams") or {}).get("diskType", "pd-standard").rsplit("/", 1)[-1]
            metric = DISK_QUOTA_METRICS.get(kind, "DISKS_TOTAL_GB")
            needed[metric] = needed.get(metric, 0) + int(size)
        for metric, limit in limits.items():  # the first one short, in the order regions.get lists them
            if needed.get(metric) and usage.get(metric, 0) + needed[metric] > limit:
                return metric, limit
        return None

    def region_resource(self, project, region, now):
        """A Region as Google shows it; its quotas' usage counted now. Lock held."""
        usage = self.quota_usage(project, region, now)
        return {
            "kind": "compute#region", "id": stable_id("region", region),
            "creationTimestamp": "1969-12-31T16:00:00.000-08:00", "name": region, "description": region,
            "status": "UP", "zones": [self.self_link(f"projects/{project}/zones/{z}") for z in REGIONS[region][0]],
            "quotas": [{"metric": metric, "limit": quota_number(limit), "usage": quota_number(usage.get(metric, 0))}
                       for metric, limit in self.quota_limits[region].items()],
            "selfLink": self.self_link(f"projects/{project}/regions/{region}"), "supportsPzs": False,
        }

    def m_regions_get(self, ctx):
        region = ctx.params["region"]
        if region not in REGIONS:
            raise not_found(f"projects/{ctx.project}/regions/{region}")
        with self.lock:
            return self.region_resource(ctx.project, region, ctx.now)

    def m_regions_list(self, ctx):
        with self.lock:
            items = [self.region_resource(ctx.project, r, ctx.now) for r in REGIONS]
        return self.list_response(ctx, "compute#regionList", items, f"projects/{ctx.project}/regions", "Region")

    def machine_type_resource(self, project, zone, name):
        spec = MACHINE_TYPES[name]
        resource = {
            "kind": "compute#machineType", "id": stable_id("machineType", name),
            "creationTimestamp": "1969-12-31T16:00:00.000-08:00", "name": name, "description": spec["description"],
            "guestCpus": spec["guestCpus"], "memoryMb": spec["memoryMb"], "imageSpaceGb": 0,
            "maximumPersistentDisks": 128, "maximumPersistentDisksSizeGb": "263168",
            "zone": zone, "selfLink": self.self_link(f"projects/{project}/zones/{zone}/machineTypes/{name}"),
            "isSharedCpu": spec.get("isSharedCpu", False), "architecture": "X86_64",
        }
        if "accelerators" in spec:
            resource["accelerators"] = spec["accelerators"]
        return resource

    def find_machine_type(self, zone, name):
        return name in MACHINE_TYPES and zone in machine_type_zones(name)

    def zonal_catalog_get(self, ctx, param, collection, exists, resource):
        """GET of a read-only per-zone catalogue entry (machine types, accelerator types)."""
        self.check_zone(ctx)
        name = ctx.params[param]
        if not exists(ctx.zone, name):
            raise not_found(f"projects/{ctx.project}/zones/{ctx.zone}/{collection}/{name}")
        return resource(ctx.project, ctx.zone, name)

    def zonal_catalog_list(self, ctx, kind, collection, names, exists, resource, schema):
        self.check_zone(ctx)
        items = [resource(ctx.project, ctx.zone, n) for n in names if exists(ctx.zone, n)]
        return self.list_response(ctx, kind, items, f"projects/{ctx.project}/zones/{ctx.zone}/{collection}", schema)

    def m_machineTypes_get(self, ctx):
        return self.zonal_catalog_get(ctx, "machineType", "machineTypes", self.find_machine_type,
                                      self.machine_type_resource)

    def m_machineTypes_list(self, ctx):
        return self.zonal_catalog_list(ctx, "compute#machineTypeList", "machineTypes", MACHINE_TYPES,
                                       self.find_machine_type, self.machine_type_resource, "MachineType")

    def accelerator_type_resource(self, project, zone, name):
        description, maximum, _, _ = ACCELERATOR_TYPES[name]
        return {
            "kind": "compute#acceleratorType", "id": stable_id("acceleratorType", name),
            "creationTimestamp": "1969-12-31T16:00:00.000-08:00", "name": name, "description": description,
            "zone": self.self_link(f"projects/{project}/zones/{zone}"),
            "selfLink": self.self_link(f"projects/{project}/zones/{zone}/acceleratorTypes/{name}"),
            "maximumCardsPerInstance": maximum,
        }

    def find_accelerator_type(self, zone, name):
        return name in ACCELERATOR_TYPES and zone in ACCELERATOR_TYPES[name][3]

    def m_acceleratorTypes_get(self, ctx):
        return self.zonal_catalog_get(ctx, "acceleratorType", "acceleratorTypes", self.find_accelerator_type,
                                      self.accelerator_type_resource)

    def m_acceleratorTypes_list(self, ctx):
        return self.zonal_catalog_list(ctx, "compute#acceleratorTypeList", "acceleratorTypes", ACCELERATOR_TYPES,
                                       self.find_accelerator_type, self.accelerator_type_resource, "AcceleratorType")

    def image_resource(self, image):
        path = f"projects/{image['project']}/global/images/{image['name']}"
        resource = {
            "kind": "compute#image", "id": stable_id("image", image["project"], image["name"]),
            "creationTimestamp": image["created"] + "T04:00:00.000-07:00", "name": image["name"],
            "description": f"{image['family']}, built on {image['created']}", "sourceType": "RAW",
            "rawDisk": {"source": "", "containerType": "TAR"}, "status": "READY",
            "archiveSizeBytes": str(image["diskSizeGb"] * 104857600), "diskSizeGb": str(image["diskSizeGb"]),
            "licenses": [self.self_link(f"projects/{image['project']}/global/licenses/{image['family']}")],
            "family": image["family"], "selfLink": self.self_link(path), "labelFingerprint": "42WmSpB8rSM=",
            "guestOsFeatures": [{"type": "UEFI_COMPATIBLE"}, {"type": "VIRTIO_SCSI_MULTIQUEUE"}, {"type": "GVNIC"}],
            "storageLocations": ["us", "eu", "asia"], "architecture": "X86_64",
        }
        if image["deprecated_by"]:
            resource["deprecated"] = {
                "state": "DEPRECATED",
                "replacement": self.self_link(f"projects/{image['project']}/global/images/{image['deprecated_by']}")}
        return resource

    def find_image(self, project, name=None, family=None):
        with self.lock:
            images = [i for i in self.images if i["project"] == project]
        if name is not None:
            return next((i for i in images if i["name"] == name), None)
        current = [i for i in images if i["family"] == family and not i["deprecated_by"]]
        return max(current, key=lambda i: i["created"], default=None)

    def m_images_get(self, ctx):
        image = self.find_image(ctx.project, name=ctx.params["image"])
        if image is None:
            raise not_found(f"projects/{ctx.project}/global/images/{ctx.params['image']}")
        return self.image_resource(image)

    def m_images_getFromFamily(self, ctx):
        image = self.find_image(ctx.project, family=ctx.params["family"])
        if image is None:
            raise not_found(f"projects/{ctx.project}/global/images/family/{ctx.params['family']}")
        return self.image_resource(image)

    def m_images_list(self, ctx):
        with self.lock:
            items = [self.image_resource(i) for i in self.images if i["project"] == ctx.project]
        return self.list_response(ctx, "compute#imageList", items, f"projects/{ctx.project}/global/images", "Image")

    def network_resource(self, project):
        return {
            "kind": "compute#network", "id": stable_id("network", project), "name": "default",
            "creationTimestamp": "2024-01-01T00:00:00.000-07:00", "description": "Default network for the project",
            "selfLink": self.self_link(f"projects/{project}/global/networks/default"),
            "autoCreateSubnetworks": True, "routingConfig": {"routingMode": "REGIONAL"},
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
            "subnetworks": [self.self_link(f"projects/{project}/regions/{r}/subnetworks/default") for r in REGIONS],
        }

    def m_networks_get(self, ctx):
        if ctx.params["network"] != "default":
            raise not_found(f"projects/{ctx.project}/global/networks/{ctx.params['network']}")
        return self.network_resource(ctx.project)

    def m_networks_list(self, ctx):
        return self.list_response(ctx, "compute#networkList", [self.network_resource(ctx.project)],
                                  f"projects/{ctx.project}/global/networks", "Network")

    # ----- Compute: operations

    def find_operation(self, ctx, scope):
        key = (ctx.project, scope, ctx.params["operation"])
        with self.lock:
            op = self.operations.get(key)
        if op is None:
            raise not_found(f"projects/{ctx.project}/{scope}/operations/{ctx.params['operation']}")
        return op

    def wait(self, op):
        """operations.wait: returns when the operation is DONE or after the wait deadline
        (Google's is two minutes), whichever comes first; then the operation as it is."""
        deadline = time.time() + self.wait_timeout
        while True:
            now = time.time()
            if op.done(now) or now >= deadline:
                return op.render(now)
            time.sleep(max(0.001, min(op.done_at, deadline) - now))

    def m_zoneOperations_get(self, ctx):
        self.check_zone(ctx)
        return self.find_operation(ctx, f"zones/{ctx.zone}").render(time.time())

    def m_zoneOperations_wait(self, ctx):
        self.check_zone(ctx)
        return self.wait(self.find_operation(ctx, f"zones/{ctx.zone}"))

    def m_zoneOperations_list(self, ctx):
        self.check_zone(ctx)
        now = time.time()
        with self.lock:
            items = [op.render(now) for (p, s, _), op in self.operations.items()
                     if p == ctx.project and s == f"zones/{ctx.zone}"]
        return self.list_response(ctx, "compute#operationList", items,
                                  f"projects/{ctx.project}/zones/{ctx.zone}/operations", "Operation")

    def m_globalOperations_get(self, ctx):
        return self.find_operation(ctx, "global").render(time.time())

    def m_globalOperations_wait(self, ctx):
        return self.wait(self.find_operation(ctx, "global"))

    def m_globalOperations_list(self, ctx):
        now = time.time()
        with self.lock:
            items = [op.render(now) for (p, s, _), op in self.operations.items() if p == ctx.project and s == "global"]
        return self.list_response(ctx, "compute#operationList", items,
                                  f"projects/{ctx.project}/global/operations", "Operation")

    def request_id(self, ctx):
        """The request's requestId, checked as Google does (a UUID, not the zero one), or None."""
        request_id = ctx.query.get("requestId")
        if request_id is None:
            return None
        try:
            parsed = uuid.UUID(request_id)
        except ValueError:
            parsed = None
        if parsed is None or parsed.int == 0 or len(request_id) not in (32, 36):
            raise invalid("requestId", request_id,
                          "The request ID must be a valid UUID with the exception that zero UUID is not supported "
                          "(00000000-0000-0000-0000-000000000000).")
        return request_id

    def repeated(self, ctx, request_id):
        """The operation of an earlier request with this requestId (Google ignores the repeat), or None.
        Called with the lock held."""
        if request_id is None:
            return None
        seen = self.request_ids.get((ctx.project, request_id))
        if seen is None:
            return None
        seen["requests"] += 1
        return self.operations[seen["operation"]]

    def remember(self, ctx, request_id, op):
        self.operations[(op.project, op.scope, op.name)] = op
        if request_id is not None:
            self.request_ids[(ctx.project, request_id)] = {
                "method": ctx.route.id, "requests": 1, "operation": (op.project, op.scope, op.name),
                "operationName": op.name}

    # ----- Compute: instances

    def instance_key(self, ctx, name=None):
        return (ctx.project, ctx.zone, name or ctx.params["instance"])

    def find_instance(self, ctx):
        """The instance named in the path (the lock held), or 404."""
        self.sweep(ctx.now)
        instance = self.instances.get(self.instance_key(ctx))
        if instance is None:
            raise not_found(f"projects/{ctx.project}/zones/{ctx.zone}/instances/{ctx.params['instance']}")
        return instance

    def m_instances_get(self, ctx):
        self.check_zone(ctx)
        with self.lock:
            return self.find_instance(ctx).render(ctx.now, self.step)

    def m_instances_getGuestAttributes(self, ctx):
        """What the guest agent publishes once the VM runs: its SSH host keys under `hostkeys/`
        (key: the key type, value: the base64 key, as gcloud reads them), and only when the
        instance's metadata has enable-guest-attributes=TRUE."""
        self.check_zone(ctx)
        with self.lock:
            instance = self.find_instance(ctx)
            metadata = {i.get("key"): i.get("value") for i in (instance.resource.get("metadata") or {}).get("items", [])}
            if str(metadata.get("enable-guest-attributes", "")).upper() != "TRUE":
                raise bad_request("Guest attributes are not enabled for this instance.")
            query = ctx.query.get("queryPath", "")
            if instance.status(ctx.now, self.step) != "RUNNING" or query.rstrip("/") != "hostkeys":
                raise not_found(f"{instance.path}/guestAttributes/{query}")
            items = [{"namespace": "hostkeys", "key": kind, "value": key} for kind, key in instance.host_keys()]
            if not items:  # the guest agent has not published them yet
                raise not_found(f"{instance.path}/guestAttributes/{query}")
        return {"kind": "compute#guestAttributes", "queryPath": query, "queryValue": {"items": items},
                "selfLink": self.self_link(f"{instance.path}/getGuestAttributes")}

    def m_instances_list(self, ctx):
        self.check_zone(ctx)
        with self.lock:
            self.sweep(ctx.now)
            items = [i.render(ctx.now, self.step) for (p, z, _), i in self.instances.items()
                     if p == ctx.project and z == ctx.zone]
        return self.list_response(ctx, "compute#instanceList", items,
                                  f"projects/{ctx.project}/zones/{ctx.zone}/instances", "Instance")

    def m_instances_aggregatedList(self, ctx):
        with self.lock:
            self.sweep(ctx.now)
            rendered = [(i.zone, i.render(ctx.now, self.step)) for (p, _, _), i in self.instances.items()
                        if p == ctx.project]
        path = f"projects/{ctx.project}/aggregated/instances"
        flat = self.list_response(ctx, "compute#instanceList", [r for _, r in rendered], path, "Instance")
        page = flat.get("items", [])
        scopes = {f"zones/{z}": [] for z in ZONE_REGION}
        scopes.update({f"regions/{r}": None for r in REGIONS})
        for resource in page:
            scopes["zones/" + resource["zone"].rsplit("/", 1)[-1]].append(resource)
        items = {}
        for scope, instances in sorted(scopes.items()):
            if instances:
                items[scope] = {"instances": instances}
            else:
                items[scope] = {"warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": f"There are no results for scope '{scope}' on this page.",
                    "data": [{"key": "scope", "value": scope}]}}
        result = {"kind": "compute#instanceAggregatedList", "id": path, "items": items,
                  "selfLink": self.self_link(path)}
        if "nextPageToken" in flat:
            result["nextPageToken"] = flat["nextPageToken"]
        return result

    def m_instances_insert(self, ctx):
        self.check_zone(ctx)
        request_id = self.request_id(ctx)
        plan = self.check_instance(ctx, ctx.body)
        with self.lock:
            self.counts["instance_inserts"] += 1
            earlier = self.repeated(ctx, request_id)
            if earlier is not None:
                return earlier.render(ctx.now)
            self.sweep(ctx.now)
            name = ctx.body["name"]
            if self.instance_key(ctx, name) in self.instances:
                raise already_exists(f"projects/{ctx.project}/zones/{ctx.zone}/instances/{name}")
            for disk, _, _ in plan["disks"]:
                if (ctx.project, ctx.zone, disk) in self.disks:
                    raise already_exists(f"projects/{ctx.project}/zones/{ctx.zone}/disks/{disk}")
            path = f"projects/{ctx.project}/zones/{ctx.zone}/instances/{name}"
            instance_id = random_id()
            failure = self.capacity_failure(ctx, plan)
            if failure is not None:
                error, http_error = failure
                op = Operation(self, ctx.project, f"zones/{ctx.zone}", "insert", path, instance_id, ctx.principal,
                               self.step, error=error, http_error=http_error)
                self.remember(ctx, request_id, op)
                self.events.append({"event": "instance.refused", "name": name, "zone": ctx.zone,
                                    "code": error[0]["code"], "time": ctx.now})
                return op.render(ctx.now)
            op = Operation(self, ctx.project, f"zones/{ctx.zone}", "insert", path, instance_id, ctx.principal,
                           2 * self.step, now=ctx.now)
            if self.nodes is not None:
                # Both addresses on the nodes' test bridge, from private ranges only; this machine has
                # one on the external network alone, so a node without one is reached through another.
                network_ip, nat_ip = self.nodes.addresses(external=bool(plan["access_config"]))
            else:
                network_ip = self.allocate_ip(ctx)
                nat_ip = None
                if plan["access_config"]:
                    nat_ip = f"34.{16 + self.next_nat // 65536 % 200}.{self.next_nat // 256 % 256}.{self.next_nat % 256}"
                    self.next_nat += 1
            resource = self.instance_resource(ctx, plan, instance_id, network_ip)
            instance = Instance(ctx.project, ctx.zone, name, resource, ctx.now, network_ip, nat_ip,
                                [(d, auto) for d, auto, _ in plan["disks"]], op)
            self.instances[self.instance_key(ctx, name)] = instance
            if self.nodes is not None:
                gpus = sum(int(g.get("acceleratorCount", 0)) for g in ctx.body.get("guestAccelerators") or [])
                instance.node = self.nodes.create(self.instance_key(ctx, name), name, network_ip, nat_ip, gpus,
                                                  self.ssh_keys_of(instance.resource))
            for (disk, _, size), given, image in zip(plan["disks"], ctx.body["disks"], plan["images"]):
                kind = (given.get("initializeParams") or {}).get("diskType", "pd-standard").rsplit("/", 1)[-1]
                existing = self.disks.get((ctx.project, ctx.zone, disk))
                self.disks[(ctx.project, ctx.zone, disk)] = existing or {
                    "sizeGb": size, "id": random_id(), "created": ctx.now, "type": kind, "delete_op": None,
                    "sourceImage": image and f"projects/{image['project']}/global/images/{image['name']}"}
                self.disks[(ctx.project, ctx.zone, disk)]["instance"] = name
            self.remember(ctx, request_id, op)
            self.counts["instances_created"] += 1
            self.events.append({"event": "instance.created", "name": name, "zone": ctx.zone, "time": ctx.now})
            return op.render(ctx.now)

    def m_instances_setLabels(self, ctx):
        """instances.setLabels: the instance's whole label set, with the fingerprint of the labels it
        replaces. Google refuses a missing or stale fingerprint (412 conditionNotMet), so two
        writers cannot undo each other's labels; the change is made at once, its Operation returned."""
        self.check_zone(ctx)
        request_id = self.request_id(ctx)
        body = ctx.body or {}
        errors = FieldErrors()
        check_labels(body.get("labels") or {}, "labels", errors)
        errors.raise_if_any()
        with self.lock:
            earlier = self.repeated(ctx, request_id)
            if earlier is not None:
                return earlier.render(ctx.now)
            instance = self.find_instance(ctx)
            if body.get("labelFingerprint") != instance.resource.get("labelFingerprint"):
                raise ApiError(412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have changed")
            instance.resource["labels"] = dict(body.get("labels") or {})
            instance.resource["labelFingerprint"] = fingerprint()
            self.counts["set_labels"] = self.counts.get("set_labels", 0) + 1
            op = Operation(self, ctx.project, f"zones/{ctx.zone}", "setLabels", instance.path, instance.id,
                           ctx.principal, self.step)
            self.remember(ctx, request_id, op)
            return op.render(ctx.now)

    def m_instances_delete(self, ctx):
        self.check_zone(ctx)
        request_id = self.request_id(ctx)
        with self.lock:
            earlier = self.repeated(ctx, request_id)
            if earlier is not None:
                return earlier.render(ctx.now)
            instance = self.find_instance(ctx)
            # Google refuses a second operation on an instance while one is still running.
            if not instance.insert_op.done(ctx.now) or instance.deleting_at is not None:
                raise not_ready(instance.path)
            op = Operation(self, ctx.project, f"zones/{ctx.zone}", "delete", instance.path, instance.id,
                           ctx.principal, self.step)
            instance.deleting_at = ctx.now
            instance.delete_op = op
            if instance.node is not None:
                # Powered off and removed in the background; STOPPING until it is gone.
                instance.node_gone = threading.Event()
                key = self.instance_key(ctx, instance.name)

                def remove(gone=instance.node_gone):
                    self.nodes.delete(key)
                    gone.set()
                threading.Thread(target=remove, daemon=True).start()
            self.remember(ctx, request_id, op)
            return op.render(ctx.now)

    @staticmethod
    def ssh_keys_of(resource):
        items = (resource.get("metadata") or {}).get("items") or []
        return "\n".join(i.get("value", "") for i in items if i.get("key") in ("ssh-keys", "sshKeys"))

    def m_instances_setMetadata(self, ctx):
        """instances.setMetadata: the instance's whole metadata, with the fingerprint of what it
        replaces (412 conditionNotMet when stale). The guest agent applies new ssh-keys."""
        self.check_zone(ctx)
        request_id = self.request_id(ctx)
        body = ctx.body or {}
        with self.lock:
            earlier = self.repeated(ctx, request_id)
            if earlier is not None:
                return earlier.render(ctx.now)
            instance = self.find_instance(ctx)
            if body.get("fingerprint") != instance.resource["metadata"].get("fingerprint"):
                raise ApiError(412, "conditionNotMet", "Supplied fingerprint does not match current metadata fingerprint.")
            metadata = {"kind": "compute#metadata", "fingerprint": fingerprint()}
            if body.get("items"):
                metadata["items"] = body["items"]
            instance.resource["metadata"] = metadata
            if instance.node is not None:
                instance.node.set_ssh_keys(self.ssh_keys_of(instance.resource))
            op = Operation(self, ctx.project, f"zones/{ctx.zone}", "setMetadata", instance.path, instance.id,
                           ctx.principal, self.step)
            self.remember(ctx, request_id, op)
            return op.render(ctx.now)

    def capacity_failure(self, ctx, plan):
        """An injected stock-out or quota refusal for this insert: (operation errors, HTTP error) or None.
        Called with the lock held."""
        fault = self.take_fault_locked(("capacity",), "", "", zone=ctx.zone, machineType=plan["machine_type"])
        quota = None if fault else self.take_fault_locked(("quota",), "", "", zone=ctx.zone)
        if fault:
            message = (f"The zone 'projects/{ctx.project}/zones/{ctx.zone}' does not have enough resources "
                       f"available to fulfill the request.  Try a different zone, or try again later.")
            error = {"code": fault["code"], "message": message}
            if fault["code"].endswith("_WITH_DETAILS"):
                error["message"] = (f"The zone 'projects/{ctx.project}/zones/{ctx.zone}' does not have enough "
                                    f"resources available to fulfill the request.  '(resource type:compute)'.")
            error["errorDetails"] = [
                {"help": {"links": [{"description": "Troubleshooting documentation",
                                     "url": "https://cloud.google.com/compute/docs/resource-error"}]}},
                {"localizedMessage": {"locale": "en-US", "message": (
                    f"A {plan['machine_type']} VM instance is currently unavailable in the {ctx.zone} zone. "
                    f"Alternatively, you can try your request again with a different VM hardware configuration "
                    f"or at a later time. For more information, see the troubleshooting documentation.")}},
                {"errorInfo": {"reason": "resource_availability", "domain": "compute.googleapis.com",
                               "metadatas": {"zone": ctx.zone, "vmType": plan["machine_type"]}}},
            ]
            return [error], (503, "SERVICE UNAVAILABLE")
        if quota:
            return self.quota_exceeded(ctx, quota["metric"], quota["limit"], quota.get("synchronous"))
        # The project's own regional quotas (regions.get), counted from what it holds there.
        refusal = self.quota_refusal(ctx, plan)
        if refusal:
            return self.quota_exceeded(ctx, *refusal)
        return None

    @staticmethod
    def quota_exceeded(ctx, metric, limit, synchronous=False):
        """Google's QUOTA_EXCEEDED: the insert's Operation's error, or (synchronous) a 403 of the insert."""
        region = ZONE_REGION[ctx.zone]
        message = f"Quota '{metric}' exceeded.  Limit: {float(limit)} in region {region}."
        if synchronous:  # some quotas are checked before the operation starts
            raise ApiError(403, "quotaExceeded", message, domain="usageLimits")
        return ([{"code": "QUOTA_EXCEEDED", "message": message,
                  "errorDetails": [{"quotaInfo": {"metricName": f"compute.googleapis.com/{metric.lower()}",
                                                  "limitName": f"{metric.replace('_', '-')}-per-project-region",
                                                  "dimensions": {"region": region},
                                                  "limit": float(limit)}}]}],
                (403, "FORBIDDEN"))

    def allocate_ip(self, ctx):
        region = ZONE_REGION[ctx.zone]
        network = ipaddress.ip_network(REGIONS[region][1])
        n = self.next_ip.get((ctx.project, region), 2)
        self.next_ip[(ctx.project, region)] = n + 1
        return str(network.network_address + n)

    def instance_resource(self, ctx, plan, instance_id, network_ip):
        """The instance as GET shows it: the request, completed with what Google fills in."""
        body = json.loads(json.dumps(ctx.body))
        link = self.self_link
        zone_path = f"projects/{ctx.project}/zones/{ctx.zone}"
        region = ZONE_REGION[ctx.zone]
        resource = {
            "kind": "compute#instance", "id": instance_id, "creationTimestamp": timestamp(ctx.now),
            "name": body["name"],
        }
        if "description" in body:
            resource["description"] = body["description"]
        resource["tags"] = {"items": body["tags"]["items"], "fingerprint": fingerprint()} \
            if body.get("tags", {}).get("items") else {"fingerprint": "42WmSpB8rSM="}
        resource["machineType"] = link(f"{zone_path}/machineTypes/{plan['machine_type']}")
        resource["zone"] = link(zone_path)
        resource["canIpForward"] = bool(body.get("canIpForward", False))
        interfaces = []
        for i, nic in enumerate(body.get("networkInterfaces", [])):
            out = {"kind": "compute#networkInterface",
                   "network": link(f"projects/{ctx.project}/global/networks/default"),
                   "subnetwork": link(f"projects/{ctx.project}/regions/{region}/subnetworks/default"),
                   "networkIP": network_ip if i == 0 else str(ipaddress.ip_address(network_ip) + 1000 * i),
                   "name": f"nic{i}", "fingerprint": fingerprint(), "stackType": nic.get("stackType", "IPV4_ONLY")}
            if nic.get("accessConfigs"):
                config = nic["accessConfigs"][0]
                out["accessConfigs"] = [{"kind": "compute#accessConfig", "type": config.get("type", "ONE_TO_ONE_NAT"),
                                         "name": config.get("name", "External NAT"),
                                         "networkTier": config.get("networkTier", "PREMIUM")}]
            if nic.get("nicType"):
                out["nicType"] = nic["nicType"]
            interfaces.append(out)
        resource["networkInterfaces"] = interfaces
        disks = []
        for index, (disk, (name, auto_delete, size)) in enumerate(zip(body["disks"], plan["disks"])):
            image = plan["images"][index]
            disks.append({
                "kind": "compute#attachedDisk", "type": disk.get("type", "PERSISTENT"),
                "mode": disk.get("mode", "READ_WRITE"), "source": link(f"{zone_path}/disks/{name}"),
                "deviceName": disk.get("deviceName", f"persistent-disk-{index}"), "index": index,
                "boot": bool(disk.get("boot", False)), "autoDelete": auto_delete,
                "licenses": self.image_resource(image)["licenses"] if image else [],
                "interface": disk.get("interface", "SCSI"), "diskSizeGb": str(size),
                "guestOsFeatures": self.image_resource(image)["guestOsFeatures"] if image else [],
                "architecture": "X86_64",
            })
        resource["disks"] = disks
        metadata = {"kind": "compute#metadata", "fingerprint": fingerprint()}
        if body.get("metadata", {}).get("items"):
            metadata["items"] = body["metadata"]["items"]
        resource["metadata"] = metadata
        if body.get("serviceAccounts"):
            resource["serviceAccounts"] = [
                {"email": s.get("email", "default") if s.get("email", "default") != "default"
                 else "123456789012-compute@developer.gserviceaccount.com", "scopes": s.get("scopes", [])}
                for s in body["serviceAccounts"]]
        resource["selfLink"] = link(f"{zone_path}/instances/{body['name']}")
        resource["scheduling"] = plan["scheduling"]
        if plan["guest_accelerators"]:
            resource["guestAccelerators"] = [
                {"acceleratorType": link(f"{zone_path}/acceleratorTypes/{t}"), "acceleratorCount": c}
                for t, c in plan["guest_accelerators"]]
        if body.get("labels"):
            resource["labels"] = body["labels"]
        resource["labelFingerprint"] = fingerprint() if body.get("labels") else "42WmSpB8rSM="
        resource["startRestricted"] = False
        resource["deletionProtection"] = bool(body.get("deletionProtection", False))
        for key in ("shieldedInstanceConfig", "advancedMachineFeatures", "confidentialInstanceConfig", "hostname",
                    "minCpuPlatform", "reservationAffinity", "displayDevice"):
            if key in body:
                resource[key] = body[key]
        resource["fingerprint"] = fingerprint()
        resource["satisfiesPzi"] = True
        return resource

    def check_instance(self, ctx, body):
        """Google's rules for instances.insert beyond the schema. Returns what the insert needs:
        machine type, disks, images, access config, scheduling and accelerators."""
        errors = FieldErrors()
        name = body.get("name")
        if name is None:
            raise required("resource.name")
        if not re.fullmatch(NAME_RE, name):
            errors.invalid("resource.name", name, f"Must be a match of regex '{NAME_REGEX_MESSAGE}'")

        machine_type = None
        value = body.get("machineType")
        if value is None:
            errors.add("required", "Required field 'resource.machineType' not specified")
        else:
            ref = self.reference(ctx, value, r"zones/(?P<zone>[^/]+)/machineTypes/(?P<name>[^/]+)")
            if ref is None:
                errors.invalid("resource.machineType", value, "The URL is malformed.")
            elif ref["project"] != ctx.project:
                errors.invalid("resource.machineType", value, "Cross-project references for this resource are not allowed.")
            elif ref["zone"] != ctx.zone or not self.find_machine_type(ctx.zone, ref["name"]):
                errors.invalid("resource.machineType", value,
                               f"Machine type with name '{ref['name']}' does not exist in zone '{ctx.zone}'.")
            else:
                machine_type = ref["name"]

        disks, images = self.check_disks(ctx, body, name, errors)
        access_config = self.check_network_interfaces(ctx, body, errors)

        check_labels(body.get("labels") or {}, "resource.labels", errors)

        seen = set()
        total = 0
        for i, item in enumerate((body.get("metadata") or {}).get("items") or []):
            key = item.get("key")
            total += len((item.get("value") or "").encode()) + len((key or "").encode())
            if key is None:
                errors.add("required", f"Required field 'resource.metadata.items[{i}].key' not specified")
            elif not re.fullmatch(r"[a-zA-Z0-9-_]{1,128}", key):
                errors.invalid(f"resource.metadata.items[{i}].key", key, "Must be a match of regex '[a-zA-Z0-9-_]{1,128}'")
            elif key in seen:
                errors.invalid("resource.metadata", "", f"Metadata has duplicate keys: {key}.")
            seen.add(key)
            if len((item.get("value") or "").encode()) > 256 * 1024:
                errors.invalid(f"resource.metadata.items[{i}].value", "", "Metadata value is too large (256 KB at most).")
        if total > 512 * 1024:
            errors.invalid("resource.metadata", "", "Metadata is too large (512 KB at most in total).")

        for i, tag in enumerate((body.get("tags") or {}).get("items") or []):
            if not re.fullmatch(NAME_RE, tag):
                errors.invalid(f"resource.tags.items[{i}]", tag, f"Must be a match of regex '{NAME_REGEX_MESSAGE}'")

        given = body.get("scheduling") or {}
        model = given.get("provisioningModel", "STANDARD")
        if model in ("FLEX_START", "RESERVATION_BOUND"):
            raise bad_request(f"The GCE test peer does not model provisioningModel {model}.")
        spot = model == "SPOT"
        preemptible = bool(given.get("preemptible", False)) or spot
        host_maintenance = given.get("onHostMaintenance")
        restart = given.get("automaticRestart")
        if preemptible:
            if host_maintenance == "MIGRATE":
                errors.invalid("resource.scheduling.preemptible", "true",
                               "Scheduling must have preemptible be false when OnHostMaintenance isn't TERMINATE.")
            if restart is True:
                errors.invalid("resource.scheduling.preemptible", "true",
                               "Scheduling must have preemptible be false when AutomaticRestart is true.")
            host_maintenance, restart = "TERMINATE", False
        else:
            host_maintenance = host_maintenance or "MIGRATE"
            restart = True if restart is None else restart
        if given.get("instanceTerminationAction") and not spot:
            errors.invalid("resource.scheduling.instanceTerminationAction", given["instanceTerminationAction"],
                           "Instance termination action can only be set for Spot VMs (provisioningModel SPOT).")
        scheduling = dict(given)
        scheduling.update(onHostMaintenance=host_maintenance, automaticRestart=restart, preemptible=preemptible,
                          provisioningModel=model)
        if spot:
            scheduling.setdefault("instanceTerminationAction", "STOP")

        accelerators = []
        for i, config in enumerate(body.get("guestAccelerators") or []):
            field = f"resource.guestAccelerators[{i}]"
            value = config.get("acceleratorType")
            count = config.get("acceleratorCount", 0)
            ref = self.reference(ctx, value, r"zones/(?P<zone>[^/]+)/acceleratorTypes/(?P<name>[^/]+)") \
                if value is not None else None
            if value is None:
                errors.add("required", f"Required field '{field}.acceleratorType' not specified")
            elif ref is None:
                errors.invalid(f"{field}.acceleratorType", value, "The URL is malformed.")
            elif ref["project"] != ctx.project or ref["zone"] != ctx.zone:
                errors.invalid(f"{field}.acceleratorType", value,
                               f"Accelerator type must be in the instance's project and zone ('{ctx.zone}').")
            elif not self.find_accelerator_type(ctx.zone, ref["name"]):
                raise not_found(f"projects/{ctx.project}/zones/{ctx.zone}/acceleratorTypes/{ref['name']}")
            else:
                if int(count) < 1:
                    errors.invalid(f"{field}.acceleratorCount", count, "Accelerator count must be at least 1.")
                accelerators.append((ref["name"], int(count), i))
        errors.raise_if_any()

        bundled = [(a["guestAcceleratorType"], a["guestAcceleratorCount"])
                   for a in MACHINE_TYPES[machine_type].get("accelerators", [])]
        for accelerator, count, i in accelerators:
            allowed_counts = ACCELERATOR_TYPES[accelerator][2]
            if bundled:
                if [(accelerator, count)] != bundled:
                    raise bad_request(f"[{accelerator}, {machine_type}] features are not compatible for creating instance.")
            elif not machine_type.startswith("n1-") or allowed_counts is None:
                raise bad_request(f"[{accelerator}, {machine_type}] features are not compatible for creating instance.")
            elif count not in allowed_counts:
                raise invalid(f"resource.guestAccelerators[{i}].acceleratorCount", count,
                              f"{accelerator} can be attached in counts of {', '.join(map(str, allowed_counts))}.")
        effective = [(a, c) for a, c, _ in accelerators] or bundled
        if effective and host_maintenance != "TERMINATE":
            raise bad_request("Instances with guest accelerators do not support live migration.")
        if machine_type.startswith("e2-") and host_maintenance == "TERMINATE" and not preemptible:
            raise bad_request("e2 instances do not support onHostMaintenance=TERMINATE unless they are preemptible.")
        return {"machine_type": machine_type, "disks": disks, "images": images, "access_config": access_config,
                "scheduling": scheduling, "guest_accelerators": effective}

    def check_disks(self, ctx, body, instance_name, errors):
        """[(disk name, autoDelete, size GB)] and the image of each (or None)."""
        disks, images = [], []
        given = body.get("disks") or []
        boots = [i for i, d in enumerate(given) if d.get("boot")]
        if not given:
            errors.invalid("resource.disks", "", "At least one disk, the boot disk, must be specified.")
        elif not boots:
            errors.invalid("resource.disks[0].boot", "false", "Boot disk must be specified.")
        elif boots[0] != 0:
            errors.invalid(f"resource.disks[{boots[0]}]", "", "Boot disk must be the first disk attached to the instance.")
        for extra in boots[1:]:
            errors.invalid(f"resource.disks[{extra}].boot", "true", "Only one boot disk is allowed.")
        names = set()
        for i, disk in enumerate(given):
            field = f"resource.disks[{i}]"
            params = disk.get("initializeParams")
            image, size = None, 10
            # The API's default is false: a disk outlives its instance unless autoDelete is asked for.
            auto_delete = bool(disk.get("autoDelete", False))
            if disk.get("source"):
                ref = self.reference(ctx, disk["source"], r"zones/(?P<zone>[^/]+)/disks/(?P<name>[^/]+)")
                with self.lock:
                    existing = self.disks.get((ref["project"], ref["zone"], ref["name"])) if ref else None
                if ref is None:
                    errors.invalid(f"{field}.source", disk["source"], "The URL is malformed.")
                    continue
                if existing is None or ref["zone"] != ctx.zone:
                    raise not_found(f"projects/{ref['project']}/zones/{ref['zone']}/disks/{ref['name']}")
                if existing["instance"] is not None:
                    raise bad_request(f"The disk resource 'projects/{ref['project']}/zones/{ref['zone']}/disks/"
                                      f"{ref['name']}' is already being used by '{existing['instance']}'")
                disks.append((ref["name"], auto_delete, existing["sizeGb"]))
                images.append(None)
                continue
            if params is None:
                errors.invalid(field, "", "Either source or initializeParams must be specified.")
                continue
            source = params.get("sourceImage")
            if source is None and disk.get("boot") and not params.get("sourceSnapshot"):
                errors.add("required", f"Required field '{field}.initializeParams.sourceImage' not specified")
            if source is not None:
                ref = self.reference(ctx, source, r"global/images/(?:family/(?P<family>[^/]+)|(?P<name>[^/]+))")
                if ref is None:
                    errors.invalid(f"{field}.initializeParams.sourceImage", source, "The URL is malformed.")
                else:
                    image = self.find_image(ref["project"], name=ref["name"], family=ref["family"])
                    if image is None or (ref["project"] not in PUBLIC_IMAGE_PROJECTS | self.projects):
                        errors.invalid(f"{field}.initializeParams.sourceImage", source,
                                       "The referenced image resource cannot be found.")
                        image = None
                    else:
                        size = image["diskSizeGb"]
            if params.get("diskSizeGb") is not None:
                asked = int(params["diskSizeGb"])
                if image is not None and asked < image["diskSizeGb"]:
                    errors.invalid(f"{field}.initializeParams.diskSizeGb", asked,
                                   f"Requested disk size cannot be smaller than the image size ({image['diskSizeGb']} GB)")
                elif asked < 1 or asked > 65536:
                    errors.invalid(f"{field}.initializeParams.diskSizeGb", asked, "Disk size must be between 1 and 65536 GB.")
                size = asked
            if params.get("diskType") is not None:
                ref = self.reference(ctx, params["diskType"], r"zones/(?P<zone>[^/]+)/diskTypes/(?P<name>[^/]+)")
                if ref is None or ref["zone"] != ctx.zone or ref["project"] != ctx.project or ref["name"] not in DISK_TYPES:
                    errors.invalid(f"{field}.initializeParams.diskType", params["diskType"],
                                   "The referenced diskType resource cannot be found.")
            disk_name = params.get("diskName") or (instance_name if disk.get("boot") else f"{instance_name}-{i}")
            if disk_name in names:
                errors.invalid(f"{field}.initializeParams.diskName", disk_name, "Disk names must be unique.")
            names.add(disk_name)
            disks.append((disk_name, auto_delete, size))
            images.append(image)
        return disks, images

    def check_network_interfaces(self, ctx, body, errors):
        """Whether the first interface asks for an external address (an access config)."""
        interfaces = body.get("networkInterfaces") or []
        if not interfaces:
            errors.invalid("resource.networkInterfaces", "", "At least one network interface must be specified.")
        region = ZONE_REGION[ctx.zone]
        for i, nic in enumerate(interfaces):
            field = f"resource.networkInterfaces[{i}]"
            if nic.get("network") is not None:
                ref = self.reference(ctx, nic["network"], r"global/networks/(?P<name>[^/]+)")
                if ref is None:
                    errors.invalid(f"{field}.network", nic["network"], "The URL is malformed.")
                elif ref["project"] != ctx.project or ref["name"] != "default":
                    errors.invalid(f"{field}.network", nic["network"], "The referenced network resource cannot be found.")
            if nic.get("subnetwork") is not None:
                ref = self.reference(ctx, nic["subnetwork"], r"regions/(?P<region>[^/]+)/subnetworks/(?P<name>[^/]+)")
                if ref is None:
                    errors.invalid(f"{field}.subnetwork", nic["subnetwork"], "The URL is malformed.")
                elif ref["project"] != ctx.project or ref["name"] != "default" or ref["region"] != region:
                    errors.invalid(f"{field}.subnetwork", nic["subnetwork"],
                                   "The referenced subnetwork resource cannot be found.")
            configs = nic.get("accessConfigs") or []
            if len(configs) > 1:
                errors.invalid(f"{field}.accessConfigs", "", "At most one access config currently supported.")
            for j, config in enumerate(configs):
                if config.get("type", "ONE_TO_ONE_NAT") != "ONE_TO_ONE_NAT":
                    errors.invalid(f"{field}.accessConfigs[{j}].type", config["type"],
                                   "Only ONE_TO_ONE_NAT access configs are supported for IPv4.")
                if config.get("natIP"):
                    errors.invalid(f"{field}.accessConfigs[{j}].natIP", config["natIP"],
                                   f"The specified external IP address '{config['natIP']}' was not found in region '{region}'.")
        return bool(interfaces and interfaces[0].get("accessConfigs"))

    # ----- Compute: disks (boot disks made with instances; what autoDelete leaves behind)

    def disk_resource(self, project, zone, name, disk):
        zone_path = f"projects/{project}/zones/{zone}"
        resource = {
            "kind": "compute#disk", "id": disk["id"], "creationTimestamp": timestamp(disk["created"]), "name": name,
            "sizeGb": str(disk["sizeGb"]), "zone": self.self_link(zone_path),
            "status": "DELETING" if disk["delete_op"] is not None else "READY",
            "selfLink": self.self_link(f"{zone_path}/disks/{name}"),
            "type": self.self_link(f"{zone_path}/diskTypes/{disk['type']}"),
            "physicalBlockSizeBytes": "4096", "labelFingerprint": "42WmSpB8rSM=",
        }
        if disk["sourceImage"]:
            resource["sourceImage"] = self.self_link(disk["sourceImage"])
        if disk["instance"]:
            resource["users"] = [self.self_link(f"{zone_path}/instances/{disk['instance']}")]
        return resource

    def find_disk(self, ctx):
        self.sweep(ctx.now)
        disk = self.disks.get((ctx.project, ctx.zone, ctx.params["disk"]))
        if disk is None:
            raise not_found(f"projects/{ctx.project}/zones/{ctx.zone}/disks/{ctx.params['disk']}")
        return disk

    def m_disks_get(self, ctx):
        self.check_zone(ctx)
        with self.lock:
            return self.disk_resource(ctx.project, ctx.zone, ctx.params["disk"], self.find_disk(ctx))

    def m_disks_list(self, ctx):
        self.check_zone(ctx)
        with self.lock:
            self.sweep(ctx.now)
            items = [self.disk_resource(p, z, n, d) for (p, z, n), d in self.disks.items()
                     if p == ctx.project and z == ctx.zone]
        return self.list_response(ctx, "compute#diskList", items, f"projects/{ctx.project}/zones/{ctx.zone}/disks", "Disk")

    def m_disks_delete(self, ctx):
        self.check_zone(ctx)
        request_id = self.request_id(ctx)
        with self.lock:
            earlier = self.repeated(ctx, request_id)
            if earlier is not None:
                return earlier.render(ctx.now)
            disk = self.find_disk(ctx)
            path = f"projects/{ctx.project}/zones/{ctx.zone}/disks/{ctx.params['disk']}"
            if disk["instance"] is not None:
                raise ApiError(400, "resourceInUseByAnotherResource",
                               f"The disk resource '{path}' is already being used by "
                               f"'projects/{ctx.project}/zones/{ctx.zone}/instances/{disk['instance']}'")
            if disk["delete_op"] is not None:
                raise not_ready(path)
            op = Operation(self, ctx.project, f"zones/{ctx.zone}", "delete", path, disk["id"], ctx.principal, self.step)
            disk["delete_op"] = op
            self.remember(ctx, request_id, op)
            return op.render(ctx.now)

    # ----- Compute: firewalls

    def find_firewall(self, ctx):
        self.sweep(ctx.now)
        firewall = self.firewalls.get((ctx.project, ctx.params["firewall"]))
        if firewall is None:
            raise not_found(f"projects/{ctx.project}/global/firewalls/{ctx.params['firewall']}")
        return firewall

    def m_firewalls_get(self, ctx):
        with self.lock:
            return dict(self.find_firewall(ctx).resource)

    def m_firewalls_list(self, ctx):
        with self.lock:
            self.sweep(ctx.now)
            items = [dict(f.resource) for (p, _), f in self.firewalls.items() if p == ctx.project]
        return self.list_response(ctx, "compute#firewallList", items, f"projects/{ctx.project}/global/firewalls",
                                  "Firewall")

    def m_firewalls_insert(self, ctx):
        request_id = self.request_id(ctx)
        resource = self.check_firewall(ctx, ctx.body)
        with self.lock:
            self.counts["firewall_inserts"] += 1
            earlier = self.repeated(ctx, request_id)
            if earlier is not None:
                return earlier.render(ctx.now)
            self.sweep(ctx.now)
            name = resource["name"]
            if (ctx.project, name) in self.firewalls:
                raise already_exists(f"projects/{ctx.project}/global/firewalls/{name}")
            op = Operation(self, ctx.project, "global", "insert", f"projects/{ctx.project}/global/firewalls/{name}",
                           resource["id"], ctx.principal, self.step)
            self.firewalls[(ctx.project, name)] = Firewall(ctx.project, name, resource, op)
            self.remember(ctx, request_id, op)
            self.events.append({"event": "firewall.created", "name": name, "time": ctx.now})
            return op.render(ctx.now)

    def m_firewalls_delete(self, ctx):
        request_id = self.request_id(ctx)
        with self.lock:
            earlier = self.repeated(ctx, request_id)
            if earlier is not None:
                return earlier.render(ctx.now)
            firewall = self.find_firewall(ctx)
            if not firewall.insert_op.done(ctx.now) or firewall.delete_op is not None:
                raise not_ready(firewall.path)
            op = Operation(self, ctx.project, "global", "delete", firewall.path, firewall.resource["id"],
                           ctx.principal, self.step)
            firewall.delete_op = op
            self.remember(ctx, request_id, op)
            return op.render(ctx.now)

    def check_firewall(self, ctx, body):
        errors = FieldErrors()
        name = body.get("name")
        if name is None:
            raise required("resource.name")
        if not re.fullmatch(NAME_RE, name):
            errors.invalid("resource.name", name, f"Must be a match of regex '{NAME_REGEX_MESSAGE}'")
        network = body.get("network", "global/networks/default")
        ref = self.reference(ctx, network, r"global/networks/(?P<name>[^/]+)")
        if ref is None:
            errors.invalid("resource.network", network, "The URL is malformed.")
        elif ref["project"] != ctx.project or ref["name"] != "default":
            errors.invalid("resource.network", network, "The referenced network resource cannot be found.")
        direction = body.get("direction", "INGRESS")
        allowed, denied = body.get("allowed") or [], body.get("denied") or []
        if allowed and denied:
            errors.invalid("resource.denied", "", "A firewall rule has either allowed or denied rules, not both.")
        if not allowed and not denied:
            errors.add("required", "Required field 'resource.allowed' not specified")
        for kind, rules in (("allowed", allowed), ("denied", denied)):
            for i, rule in enumerate(rules):
                field = f"resource.{kind}[{i}]"
                protocol = rule.get("IPProtocol")
                if protocol is None:
                    errors.add("required", f"Required field '{field}.IPProtocol' not specified")
                    continue
                if protocol not in ("tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all") and not (
                        protocol.isdigit() and int(protocol) <= 255):
                    errors.invalid(f"{field}.IPProtocol", protocol, "Invalid IP protocol specification.")
                for j, port in enumerate(rule.get("ports") or []):
                    m = re.fullmatch(r"([0-9]{1,5})(?:-([0-9]{1,5}))?", port)
                    if protocol not in ("tcp", "udp", "sctp", "all"):
                        errors.invalid(f"{field}.ports[{j}]", port, "Ports may only be specified for tcp, udp, sctp or all.")
                    elif not m or int(m.group(1)) > 65535 or (m.group(2) and not int(m.group(1)) <= int(m.group(2)) <= 65535):
                        errors.invalid(f"{field}.ports[{j}]", port, "Invalid port specification.")
        for key in ("sourceRanges", "destinationRanges"):
            for i, cidr in enumerate(body.get(key) or []):
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    errors.invalid(f"resource.{key}[{i}]", cidr, "Must be a valid IPV4 or IPV6 CIDR address range.")
        for key in ("sourceTags", "targetTags"):
            for i, tag in enumerate(body.get(key) or []):
                if not re.fullmatch(NAME_RE, tag):
                    errors.invalid(f"resource.{key}[{i}]", tag, f"Must be a match of regex '{NAME_REGEX_MESSAGE}'")
        priority = body.get("priority", 1000)
        if not 0 <= int(priority) <= 65535:
            errors.invalid("resource.priority", priority, "Must be between 0 and 65535.")
        errors.raise_if_any()
        resource = {"kind": "compute#firewall", "id": random_id(), "creationTimestamp": timestamp(ctx.now),
                    "name": name}
        if "description" in body:
            resource["description"] = body["description"]
        resource["network"] = self.self_link(f"projects/{ctx.project}/global/networks/default")
        resource["priority"] = int(priority)
        sources = [k for k in ("sourceRanges", "sourceTags", "sourceServiceAccounts") if body.get(k)]
        if direction == "INGRESS" and not sources:
            resource["sourceRanges"] = ["0.0.0.0/0"]
        for key in ("sourceRanges", "destinationRanges", "sourceTags", "targetTags", "sourceServiceAccounts",
                    "targetServiceAccounts"):
            if body.get(key):
                resource[key] = body[key]
        if allowed:
            resource["allowed"] = allowed
        if denied:
            resource["denied"] = denied
        resource["direction"] = direction
        resource["logConfig"] = body.get("logConfig", {"enable": False})
        resource["disabled"] = bool(body.get("disabled", False))
        resource["selfLink"] = self.self_link(f"projects/{ctx.project}/global/firewalls/{name}")
        return resource


def b64url_decode(text):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------

FAULT_BODIES = {
    429: lambda project: ApiError(
        429, "rateLimitExceeded",
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
        f"'compute.googleapis.com' for consumer 'project_number:{stable_id('project', project)[:12]}'.",
        status="RESOURCE_EXHAUSTED", domain="usageLimits"),
    403: lambda project: ApiError(403, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits"),
    500: lambda project: ApiError(
        500, "backendError",
        f"Internal error. Please try again or contact Google Support. (Code: '{secrets.token_hex(8)}')",
        status="INTERNAL"),
    503: lambda project: ApiError(503, "backendError", "The service is currently unavailable.", status="UNAVAILABLE"),
}
OAUTH_FAULTS = {
    429: ("rate_limit_exceeded", "Rate Limit Exceeded"),
    403: ("rate_limit_exceeded", "Rate Limit Exceeded"),
    500: ("internal_failure", "Backend Error"),
    503: ("temporarily_unavailable", "The service is currently unavailable."),
}


class Handler(PeerHandler):
    server_version = "ESF"

    def handle_request(self):
        peer = self.peer
        started = time.time()
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, url.query
        body = self.read_body()
        method = self.command
        drop = False
        try:
            if path.startswith("/_peer/"):
                status, payload = self.control(path, method, body)
                return self.respond(status, payload, started)
            # Counted before any check: a refused request was made all the same.
            peer.received.record(method, path, mutating=method not in SAFE_METHODS and path != "/token")
            with peer.lock:
                peer.counts["requests"] += 1
            delay = peer.take_fault(("delay",), path, method)
            if delay:
                time.sleep(float(delay.get("seconds", 1)))
            drop = peer.take_fault(("drop",), path, method) is not None
            fault = peer.take_fault(("http",), path, method)
            if path == "/token":
                if fault:
                    error, description = OAUTH_FAULTS[fault["status"]]
                    raise OAuthError(fault["status"], error, description)
                if method != "POST":
                    raise OAuthError(405, "invalid_request", "The token endpoint takes POST only.")
                form = self.form(body)
                result = peer.token_endpoint(form)
                return self.respond(200, result, started, drop=drop, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"})
            if path.startswith(COMPUTE_PREFIX):
                if fault:
                    project = (path[len(COMPUTE_PREFIX):].split("/") + ["", ""])[1]
                    raise FAULT_BODIES[fault["status"]](project)
                result = peer.compute(method, path[len(COMPUTE_PREFIX):], query, body, self.headers.get("Authorization"),
                                      self.headers.get("Content-Type"))
                return self.respond(200, result, started, drop=drop)
            if peer.billing.routes(path):
                if fault:
                    raise gce_billing.FAULTS[fault["status"]]()
                result = peer.billing_request(method, path, query, self.headers.get("Authorization"))
                return self.respond(200, result, started, drop=drop)
            raise ApiError(404, "notFound", f"The requested URL {path} was not found on this server.")
        except (ApiError, gce_billing.RpcError) as error:
            self.respond(error.code, error.body(), started, headers=error.headers, drop=drop)
        except OAuthError as error:
            self.respond(error.code, {"error": error.error, "error_description": error.description}, started, drop=drop)
        except Exception as error:  # a bug in the peer: say so loudly, in Google's shape
            import traceback
            traceback.print_exc()
            failure = ApiError(500, "backendError", f"The GCE test peer failed: {type(error).__name__}: {error}")
            self.respond(500, failure.body(), started)

    @staticmethod
    def form(body):
        text = body.decode("utf-8", errors="replace")
        if text.lstrip().startswith("{"):  # Google's token endpoint also takes JSON
            try:
                return {k: str(v) for k, v in json.loads(text).items()}
            except ValueError:
                raise OAuthError(400, "invalid_request", "The request body is not valid JSON.")
        return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))

    def respond(self, status, payload, started, headers=None, drop=False):
        shown = re.sub(r"(access_token|assertion|refresh_token|client_secret)=[^&]*", r"\1=…", self.path)
        elapsed = (time.time() - started) * 1000
        data = (json.dumps(payload, indent=2) + "\n").encode()
        if drop:
            # The answer is lost on the way: its head and half its body, then the connection
            # closes. (Closing before any byte would not do: libcurl silently resends a request
            # whose reused connection dies before the answer starts.)
            log(f"{self.command} {shown} → {status}, cut off half way (injected) {elapsed:.0f} ms")
            self.close_connection = True
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        detail = ""
        if status >= 400 and isinstance(payload, dict):
            error = payload.get("error")
            detail = " " + (error.get("message", "") if isinstance(error, dict) else f"{error}: {payload.get('error_description')}")
        log(f"{self.command} {shown} → {status}{detail} ({elapsed:.0f} ms)")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Vary", "Origin, X-Origin, Referer")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def control(self, path, method, body):
        """The test-only API: /_peer/state, /_peer/inject, /_peer/settings, /_peer/quotas, /_peer/expire-tokens,
        /_peer/images, /_peer/requests (and /_peer/requests/reset), /_peer/health."""
        peer = self.peer
        try:
            spec = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        try:
            if path == "/_peer/health":
                return 200, {"ok": True, "discovery_revision": peer.discovery.revision}
            if path == "/_peer/state" and method == "GET":
                return 200, peer.state()
            if path == "/_peer/requests" and method == "GET":
                return 200, peer.received.snapshot()
            if path == "/_peer/requests/reset" and method == "POST":
                return 200, peer.received.reset()
            if path == "/_peer/inject" and method == "POST":
                faults = spec.get("faults", [spec]) if isinstance(spec, dict) else spec
                for fault in faults:
                    current = peer.inject(fault)
                return 200, {"faults": current}
            if path == "/_peer/inject" and method == "DELETE":
                with peer.lock:
                    peer.faults.clear()
                return 200, {"faults": []}
            if path == "/_peer/inject" and method == "GET":
                with peer.lock:
                    return 200, {"faults": list(peer.faults)}
            if path == "/_peer/settings" and method == "POST":
                return 200, peer.settings(spec)
            if path == "/_peer/quotas" and method == "GET":
                with peer.lock:
                    return 200, peer.quotas_state()
            if path == "/_peer/quotas" and method == "POST":
                return 200, peer.set_quotas(spec)
            if path == "/_peer/quotas" and method == "DELETE":
                with peer.lock:
                    peer.reset_quotas()
                    peer.enforce_quotas = True
                    return 200, peer.quotas_state()
            if path == "/_peer/expire-tokens" and method == "POST":
                return 200, {"expired": peer.expire_tokens()}
            if path == "/_peer/images" and method == "POST":
                image = dict(project=spec["project"], name=spec["name"], family=spec.get("family", spec["name"]),
                             diskSizeGb=int(spec.get("diskSizeGb", 10)), created=spec.get("created", "2025-01-01"),
                             deprecated_by=None)
                with peer.lock:
                    peer.images.append(image)
                return 200, image
        except (ValueError, KeyError, TypeError) as error:
            return 400, {"error": str(error)}
        return 404, {"error": f"no control route {method} {path}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--discovery", required=True, help="compute.v1.json (fetch-compute-discovery.sh)")
    parser.add_argument("--accounts", required=True, help="registered accounts (public keys, refresh tokens)")
    parser.add_argument("--project", action="append", required=True, help="a project the accounts may use")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--port-file", help="written (atomically) with the port once the peer listens")
    parser.add_argument("--step-seconds", type=float, default=0.3,
                        help="time an instance spends in each of PROVISIONING, STAGING (and STOPPING)")
    parser.add_argument("--wait-timeout", type=float, default=120.0, help="operations.wait's deadline (Google: 2 min)")
    parser.add_argument("--token-lifetime", type=float, default=TOKEN_LIFETIME)
    parser.add_argument("--nodes", help="boot a VM-like node for every instance (vm_nodes.py), its files in this folder")
    parser.add_argument("--node-images", default="/var/lib/cloudc/vm-images", help="where the stock image is built, once")
    parser.add_argument("--node-tag", default="gce", help="names the nodes' bridge (ccvm-TAG)")
    parser.add_argument("--node-subnet", type=int, default=7,
                        help="the nodes' networks: 10.91.N.0/24 (internal) and 100.91.N.0/24 (external, where this "
                             "machine is 100.91.N.1)")
    parser.add_argument("--package-cache-port", type=int, help="the package cache the nodes' apt goes through")
    parser.add_argument("--user-delay", type=float, default=float(os.environ.get("CLOUD_PEER_USER_DELAY", "5")),
                        help="seconds after sshd answers before the guest agent makes the users (CLOUD_PEER_USER_DELAY)")
    args = parser.parse_args()

    if not os.path.exists(args.discovery):
        raise SystemExit(f"{args.discovery} is missing: run Tests/peers/fetch-compute-discovery.sh")
    discovery = Discovery(args.discovery)
    with open(args.accounts, encoding="utf-8") as f:
        accounts = json.load(f)
    peer = Peer(discovery, accounts, args.project, args.step_seconds, args.wait_timeout, args.token_lifetime)
    if args.nodes:
        import signal
        import vm_nodes
        peer.nodes = vm_nodes.Backend(args.nodes, args.node_images, args.node_tag, args.package_cache_port,
                                      args.user_delay, internal=f"10.91.{args.node_subnet}.0/24",
                                      external=f"100.91.{args.node_subnet}.0/24", host_internal=False)

        def shut_down(*_):
            peer.nodes.shutdown()
            os._exit(0)
        signal.signal(signal.SIGTERM, shut_down)
        signal.signal(signal.SIGINT, shut_down)
    Handler.peer = peer
    server, port = listen(Handler, args.port)
    peer.own_base = f"http://127.0.0.1:{port}{COMPUTE_PREFIX}"
    peer.token_url = f"http://127.0.0.1:{port}/token"
    log(f"GCE peer on http://127.0.0.1:{port} (Compute v1 discovery revision {discovery.revision}, "
        f"{len(discovery.routes)} methods, projects {', '.join(args.project)})")
    serve(server, args.port_file)


if __name__ == "__main__":
    main()
