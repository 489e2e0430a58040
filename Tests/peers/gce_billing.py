"""Google's Cloud Billing Catalog API (v1) for the GCE peer: ``services.skus.list`` of Compute Engine.

    GET /v1/services/6F81-5844-456A/skus?currencyCode=USD&pageSize=5000&pageToken=...&startTime=...&endTime=...

answered as https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list documents
it: ``{"skus": [Sku, ...], "nextPageToken": "..."}`` ("" on the last page), every price a
``google.type.Money`` (``{"currencyCode", "units" (a string), "nanos"}``).

The catalogue (`SKUS`, below) is a small, fixed, readable subset of the real one: for every
region of the peer, Compute Engine's per-vCPU-hour and per-GiB-hour SKUs of N1, E2, N2, A2 and
G2 (OnDemand and Spot "Preemptible"), the GPUs (T4, L4, A100), and the decoys a careless
matcher would pick up (custom, sole-tenant, commitment, other regions', licence, storage,
multi-regional and global SKUs). Same catalogue, same answer: SKU ids are fixed, the list is
ordered by skuId, and prices do not change with time.

Errors have the shape of Google's one-platform APIs (no ``errors`` array):
``{"error": {"code", "message", "status", "details"?}}``.

Only the standard library.
"""
import base64
import datetime
import hashlib
import hmac
import json
import re
import secrets
import urllib.parse
import zoneinfo
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

BILLING_SERVICE = "cloudbilling.googleapis.com"
LIST_SKUS = "google.cloud.billing.v1.CloudCatalog.ListSkus"
LIST_SERVICES = "google.cloud.billing.v1.CloudCatalog.ListServices"
COMPUTE_SERVICE_ID = "6F81-5844-456A"
COMPUTE_DISPLAY_NAME = "Compute Engine"
# Any one of these lets a token read the catalogue (the method's documented scopes).
SCOPES = ("https://www.googleapis.com/auth/cloud-billing.readonly",
          "https://www.googleapis.com/auth/cloud-billing",
          "https://www.googleapis.com/auth/cloud-platform")
MAX_PAGE_SIZE = 5000
SKUS_PATH = re.compile(r"/v1/services/([^/]+)/skus")
# Google's standard query parameters (those of every discovery document), besides the method's own.
SYSTEM_PARAMETERS = {"$.xgafv", "access_token", "alt", "callback", "fields", "key", "oauth_token", "prettyPrint",
                     "quotaUser", "uploadType", "upload_protocol"}
METHOD_PARAMETERS = {"currencyCode", "pageSize", "pageToken", "startTime", "endTime"}

# USD → currency, fixed: a price in that currency is the USD price times the rate, to the nano.
CURRENCY_RATES = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "CHF": Decimal("0.88"),
    "CAD": Decimal("1.36"),
    "AUD": Decimal("1.52"),
    "JPY": Decimal("151.2"),
    "INR": Decimal("83.3"),
}

# usage unit: (usageUnitDescription, baseUnit, baseUnitDescription, baseUnitConversionFactor)
UNITS = {
    "h": ("hour", "s", "second", 3600),
    "GiBy.h": ("gibibyte hour", "By.s", "byte second", 3865470566400),  # 2^30 × 3600
    "GiBy.mo": ("gibibyte month", "By.s", "byte second", 2875910101401600),  # 2^30 × 3600 × 24 × 31
    "GiBy": ("gibibyte", "By", "byte", 1073741824),
}

# What a region's prices are, relative to us-central1's (every price below is us-central1's,
# multiplied by this and rounded half up to a millionth of a dollar).
REGION_FACTORS = {
    "us-central1": Decimal("1"),
    "us-east1": Decimal("1.02"),
    "europe-west1": Decimal("1.10"),
    # regions the peer has no zones in: only the decoy N1 SKUs below
    "us-west1": Decimal("1.04"),
    "europe-west4": Decimal("1.12"),
    "asia-east1": Decimal("1.16"),
}
DECOY_REGIONS = ("us-west1", "europe-west4", "asia-east1")


def geo(region):
    """The region's area as Compute Engine's SKU descriptions name it."""
    return {"us": "Americas", "europe": "EMEA", "asia": "APAC"}[region.split("-")[0]]


# One row per SKU kind, made for every region of the peer that offers it.
#   description ({geo}: Americas, EMEA, APAC), resourceFamily, resourceGroup, usageType,
#   usage unit, us-central1 price in USD per unit, needs (None: every region; an accelerator
#   type: the regions with a zone that has it, as the peer's ACCELERATOR_TYPES says)
REGIONAL = [
    # N1: the vCPU and the GiB of RAM of n1-standard-*, and of an N1 with GPUs attached
    ("N1 Predefined Instance Core running in {geo}", "Compute", "N1Standard", "OnDemand", "h", "0.031611", None),
    ("N1 Predefined Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.004237", None),
    ("Spot Preemptible N1 Predefined Instance Core running in {geo}", "Compute", "N1Standard", "Preemptible", "h", "0.010432", None),
    ("Spot Preemptible N1 Predefined Instance Ram running in {geo}", "Compute", "RAM", "Preemptible", "GiBy.h", "0.001398", None),
    # E2 (e2-standard-*, e2-medium)
    ("E2 Instance Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.021811", None),
    ("E2 Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.002923", None),
    ("Spot Preemptible E2 Instance Core running in {geo}", "Compute", "CPU", "Preemptible", "h", "0.006980", None),
    ("Spot Preemptible E2 Instance Ram running in {geo}", "Compute", "RAM", "Preemptible", "GiBy.h", "0.000935", None),
    # N2
    ("N2 Instance Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.031611", None),
    ("N2 Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.004237", None),
    ("Spot Preemptible N2 Instance Core running in {geo}", "Compute", "CPU", "Preemptible", "h", "0.011064", None),
    ("Spot Preemptible N2 Instance Ram running in {geo}", "Compute", "RAM", "Preemptible", "GiBy.h", "0.001483", None),
    # A2 (a2-highgpu-*: where the A100 is), G2 (g2-standard-*: where the L4 is)
    ("A2 Instance Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.031611", "nvidia-tesla-a100"),
    ("A2 Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.004237", "nvidia-tesla-a100"),
    ("Spot Preemptible A2 Instance Core running in {geo}", "Compute", "CPU", "Preemptible", "h", "0.011380", "nvidia-tesla-a100"),
    ("Spot Preemptible A2 Instance Ram running in {geo}", "Compute", "RAM", "Preemptible", "GiBy.h", "0.001525", "nvidia-tesla-a100"),
    ("G2 Instance Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.024988", "nvidia-l4"),
    ("G2 Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.002927", "nvidia-l4"),
    ("Spot Preemptible G2 Instance Core running in {geo}", "Compute", "CPU", "Preemptible", "h", "0.008496", "nvidia-l4"),
    ("Spot Preemptible G2 Instance Ram running in {geo}", "Compute", "RAM", "Preemptible", "GiBy.h", "0.000995", "nvidia-l4"),
    # GPUs, per GPU hour
    ("Nvidia Tesla T4 GPU running in {geo}", "Compute", "GPU", "OnDemand", "h", "0.35", "nvidia-tesla-t4"),
    ("Nvidia Tesla T4 GPU attached to Spot Preemptible VMs running in {geo}", "Compute", "GPU", "Preemptible", "h", "0.14", "nvidia-tesla-t4"),
    ("Nvidia L4 GPU running in {geo}", "Compute", "GPU", "OnDemand", "h", "0.56", "nvidia-l4"),
    ("Nvidia L4 GPU attached to Spot Preemptible VMs running in {geo}", "Compute", "GPU", "Preemptible", "h", "0.224", "nvidia-l4"),
    ("Nvidia Tesla A100 GPU running in {geo}", "Compute", "GPU", "OnDemand", "h", "2.933908", "nvidia-tesla-a100"),
    ("Nvidia Tesla A100 GPU attached to Spot Preemptible VMs running in {geo}", "Compute", "GPU", "Preemptible", "h", "0.880172", "nvidia-tesla-a100"),
    # Decoys: other machine kinds whose descriptions share words with the ones above
    ("Nvidia A100 80GB GPU running in {geo}", "Compute", "GPU", "OnDemand", "h", "3.927390", "nvidia-tesla-a100"),
    ("Custom Instance Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.033192", None),
    ("Custom Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.004449", None),
    ("Custom Extended Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.009550", None),
    ("Spot Preemptible Custom Instance Core running in {geo}", "Compute", "CPU", "Preemptible", "h", "0.010953", None),
    ("N2 Custom Instance Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.033192", None),
    ("N2 Custom Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.004449", None),
    ("Sole Tenancy Instance Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.034773", None),
    ("Sole Tenancy Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.004661", None),
    ("N2 Sole Tenancy Instance Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.034773", None),
    ("Memory-optimized Instance Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.034800", None),
    ("Memory-optimized Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.005100", None),
    ("Compute optimized Core running in {geo}", "Compute", "CPU", "OnDemand", "h", "0.033982", None),
    ("Compute optimized Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.004555", None),
    ("Commitment v1: Cpu in {geo} for 1 Year", "Compute", "CPU", "Commit1Yr", "h", "0.019915", None),
    ("Commitment v1: Ram in {geo} for 1 Year", "Compute", "RAM", "Commit1Yr", "GiBy.h", "0.002669", None),
    ("Commitment v1: Cpu in {geo} for 3 Year", "Compute", "CPU", "Commit3Yr", "h", "0.014225", None),
    ("Commitment v1: Ram in {geo} for 3 Year", "Compute", "RAM", "Commit3Yr", "GiBy.h", "0.001907", None),
    ("Commitment v1: E2 Cpu in {geo} for 1 Year", "Compute", "CPU", "Commit1Yr", "h", "0.013741", None),
    ("Commitment v1: Nvidia Tesla T4 GPU in {geo} for 1 Year", "Compute", "GPU", "Commit1Yr", "h", "0.2205", "nvidia-tesla-t4"),
    ("Storage PD Capacity in {geo}", "Storage", "PDStandard", "OnDemand", "GiBy.mo", "0.04", None),
    ("Balanced PD Capacity in {geo}", "Storage", "SSD", "OnDemand", "GiBy.mo", "0.1", None),
    ("SSD backed PD Capacity in {geo}", "Storage", "SSD", "OnDemand", "GiBy.mo", "0.17", None),
]

# Decoys: the same N1 SKUs in regions the peer has no zones in (same descriptions as a peer
# region of the same area: only serviceRegions tells them apart).
OTHER_REGIONS = [
    ("N1 Predefined Instance Core running in {geo}", "Compute", "N1Standard", "OnDemand", "h", "0.031611"),
    ("N1 Predefined Instance Ram running in {geo}", "Compute", "RAM", "OnDemand", "GiBy.h", "0.004237"),
]

# Decoys that are not of one region: description, resourceFamily, resourceGroup, usageType,
# unit, tiers [(startUsageAmount, USD price)], geoTaxonomy type (GLOBAL: serviceRegions
# ["global"]; MULTI_REGIONAL: every region of the peer).
NOT_REGIONAL = [
    ("Licensing Fee for Windows Server 2022 Datacenter Edition (CPU cost)", "License", "WindowsServer", "OnDemand",
     "h", [(0, "0.046")], "GLOBAL"),
    ("Licensing Fee for Red Hat Enterprise Linux 9 on VM with 1 to 4 VCPU", "License", "RHEL", "OnDemand",
     "h", [(0, "0.06")], "GLOBAL"),
    ("Network Internet Egress from Americas to EMEA", "Network", "PremiumInternetEgress", "OnDemand",
     "GiBy", [(0, "0.12"), (1024, "0.11"), (10240, "0.08")], "GLOBAL"),
    ("Storage Image", "Storage", "StorageImage", "OnDemand", "GiBy.mo", [(0, "0.05")], "MULTI_REGIONAL"),
]

# The one real SKU id the catalogue keeps (Google's example); the others are made from the
# description, region and usage type, the same every time.
PINNED_IDS = {("N1 Predefined Instance Core running in Americas", "us-central1", "OnDemand"): "2E27-4F75-95CD"}


def sku_id(description, region, usage_type):
    pinned = PINNED_IDS.get((description, region, usage_type))
    if pinned:
        return pinned
    digest = hashlib.sha256(f"{description}|{region}|{usage_type}".encode()).hexdigest().upper()[:12]
    return "-".join(digest[i:i + 4] for i in range(0, 12, 4))


def regional_price(us_central1_price, region):
    return (Decimal(us_central1_price) * REGION_FACTORS[region]).quantize(Decimal("0.000001"), ROUND_HALF_UP)


class SkuEntry:
    """One SKU of the catalogue, its prices in USD (Decimal)."""

    def __init__(self, description, family, group, usage_type, unit, tiers, regions, taxonomy):
        self.description = description
        self.family = family
        self.group = group
        self.usage_type = usage_type
        self.unit = unit
        self.tiers = tiers  # [(startUsageAmount, Decimal USD)]
        self.regions = regions  # serviceRegions
        self.taxonomy = taxonomy
        self.sku_id = sku_id(description, regions[0] if len(regions) == 1 else taxonomy, usage_type)
        self.aggregated = len(tiers) > 1

    def render(self, currency, rate, effective_time):
        unit_description, base_unit, base_description, factor = UNITS[self.unit]
        rates = []
        for start, usd in self.tiers:
            amount = (usd * rate).quantize(Decimal("0.000000001"), ROUND_HALF_EVEN)
            units = int(amount)
            nanos = int((amount - units) * 1000000000)
            rates.append({"startUsageAmount": start,
                          "unitPrice": {"currencyCode": currency, "units": str(units), "nanos": nanos}})
        pricing = {
            "summary": "",
            "pricingExpression": {
                "usageUnit": self.unit,
                "displayQuantity": 1,
                "tieredRates": rates,
                "usageUnitDescription": unit_description,
                "baseUnit": base_unit,
                "baseUnitDescription": base_description,
                "baseUnitConversionFactor": factor,
            },
            "currencyConversionRate": int(rate) if rate == rate.to_integral_value() else float(rate),
            "effectiveTime": effective_time,
        }
        if self.aggregated:
            pricing["aggregationInfo"] = {"aggregationLevel": "ACCOUNT", "aggregationInterval": "MONTHLY",
                                          "aggregationCount": 1}
        taxonomy = {"type": self.taxonomy}
        if self.taxonomy != "GLOBAL":
            taxonomy["regions"] = list(self.regions)
        return {
            "name": f"services/{COMPUTE_SERVICE_ID}/skus/{self.sku_id}",
            "skuId": self.sku_id,
            "description": self.description,
            "category": {"serviceDisplayName": COMPUTE_DISPLAY_NAME, "resourceFamily": self.family,
                         "resourceGroup": self.group, "usageType": self.usage_type},
            "serviceRegions": list(self.regions),
            "pricingInfo": [pricing],
            "serviceProviderName": "Google",
            "geoTaxonomy": taxonomy,
        }


def build_catalogue(regions, accelerator_regions):
    """Every SKU, ordered by skuId. regions: the peer's regions (in its order);
    accelerator_regions: accelerator type → the regions with a zone that offers it."""
    skus = []
    for region in regions:
        for description, family, group, usage, unit, price, needs in REGIONAL:
            if needs and region not in accelerator_regions.get(needs, ()):
                continue
            skus.append(SkuEntry(description.format(geo=geo(region)), family, group, usage, unit,
                                 [(0, regional_price(price, region))], [region], "REGIONAL"))
    for region in DECOY_REGIONS:
        for description, family, group, usage, unit, price in OTHER_REGIONS:
            skus.append(SkuEntry(description.format(geo=geo(region)), family, group, usage, unit,
                                 [(0, regional_price(price, region))], [region], "REGIONAL"))
    for description, family, group, usage, unit, tiers, taxonomy in NOT_REGIONAL:
        where = ["global"] if taxonomy == "GLOBAL" else list(regions)
        skus.append(SkuEntry(description, family, group, usage, unit,
                             [(start, Decimal(price)) for start, price in tiers], where, taxonomy))
    skus.sort(key=lambda s: s.sku_id)
    ids = [s.sku_id for s in skus]
    if len(set(ids)) != len(ids):
        raise SystemExit("gce_billing: two SKUs got the same id")
    return skus


# ---------------------------------------------------------------------------------------
# Errors, in the shape of Google's one-platform APIs
# ---------------------------------------------------------------------------------------

class RpcError(Exception):
    """{"error": {"code", "message", "status", "details"?}}."""

    def __init__(self, code, status, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self):
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def error_info(reason, method):
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
            "metadata": {"service": BILLING_SERVICE, "method": method}}


def unauthenticated(why, method=LIST_SKUS):
    """why: "missing" (no Authorization header), "expired", or "invalid" (not a token of this peer)."""
    if why == "missing":
        return RpcError(401, "UNAUTHENTICATED",
                        "Request is missing required authentication credential. Expected OAuth 2 access token, "
                        "login cookie or other valid authentication credential. "
                        "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                        details=[error_info("CREDENTIALS_MISSING", method)],
                        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
    details = [error_info("ACCESS_TOKEN_EXPIRED", method)] if why == "expired" else None
    return RpcError(401, "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                    "or other valid authentication credential. "
                    "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                    details=details,
                    headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'})


def insufficient_scopes(method=LIST_SKUS):
    return RpcError(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.",
                    details=[error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT", method)],
                    headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                                                 f'error="insufficient_scope", scope="{" ".join(SCOPES)}"'})


def invalid_argument(message, field=None):
    details = None
    if field:
        details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": field, "description": message}]}]
    return RpcError(400, "INVALID_ARGUMENT", message, details=details)


def method_not_found():
    return RpcError(404, "NOT_FOUND", "Method not found.")


FAULTS = {  # what an injected http fault of the peer answers here
    429: lambda: RpcError(429, "RESOURCE_EXHAUSTED",
                          "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' "
                          f"of service '{BILLING_SERVICE}'.",
                          details=[error_info("RATE_LIMIT_EXCEEDED", LIST_SKUS)]),
    403: lambda: RpcError(403, "PERMISSION_DENIED", "The caller does not have permission"),
    500: lambda: RpcError(500, "INTERNAL", "Internal error encountered."),
    503: lambda: RpcError(503, "UNAVAILABLE", "The service is currently unavailable."),
}


# ---------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------

RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")


def parse_timestamp(name, value):
    m = RFC3339.fullmatch(value)
    try:
        if not m:
            raise ValueError(value)
        text = value[:19] + (m.group(7) or "")[:7] + ("+00:00" if m.group(8) in "Zz" else m.group(8))
        return datetime.datetime.fromisoformat(text.replace("t", "T"))
    except ValueError:
        raise invalid_argument(f"Invalid value at '{snake(name)}' (type.googleapis.com/google.protobuf.Timestamp), "
                               f"\"{value}\"", snake(name))


def snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def rfc3339(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


class Catalog:
    """``handle(http_method, path, query_string, authorize)``: the answer (a dict), or raises
    RpcError. ``authorize(method_id)`` gives the request's token record ({"scopes", ...}) or
    raises RpcError (401); the catalogue checks the scopes itself."""

    def __init__(self, regions, accelerator_regions, select_fields=None):
        self.skus = build_catalogue(regions, accelerator_regions)
        self.select_fields = select_fields  # (result, fields text) → result, or raise ValueError
        self.secret = secrets.token_bytes(32)  # signs this peer's page tokens

    @staticmethod
    def routes(path):
        """Whether a path is this API's (cloudbilling.googleapis.com's v1)."""
        return path == "/v1" or path.startswith("/v1/")

    def handle(self, method, path, query_string, authorize):
        m = SKUS_PATH.fullmatch(path)
        if path == "/v1/services" and method == "GET":
            authorize(LIST_SERVICES)
            raise RpcError(501, "UNIMPLEMENTED", f"The GCE test peer does not implement {LIST_SERVICES}.")
        if not m or method != "GET":
            raise method_not_found()
        token = authorize(LIST_SKUS)
        if not set(token["scopes"]) & set(SCOPES):
            raise insufficient_scopes()
        query = self.query(query_string)
        service = urllib.parse.unquote(m.group(1))
        currency = query.get("currencyCode") or "USD"
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise invalid_argument(f"Invalid currency code: {currency}. Use an ISO 4217 currency code.")
        if currency not in CURRENCY_RATES:
            raise invalid_argument(f"Currency code {currency} is not supported.")
        size = self.page_size(query.get("pageSize"))
        effective = self.effective_time(query.get("startTime"), query.get("endTime"))
        if service != COMPUTE_SERVICE_ID:
            raise RpcError(404, "NOT_FOUND", f"Service not found: services/{service}")
        binding = {"v": service, "c": currency, "s": query.get("startTime", ""), "e": query.get("endTime", "")}
        offset = self.read_page_token(query.get("pageToken", ""), binding)
        chosen = self.skus[offset:offset + size]
        rate = CURRENCY_RATES[currency]
        result = {"skus": [sku.render(currency, rate, effective) for sku in chosen]}
        following = offset + len(chosen)
        result["nextPageToken"] = self.page_token(following, binding) if following < len(self.skus) else ""
        if query.get("fields"):
            try:
                result = self.select_fields(result, query["fields"])
            except ValueError:
                raise invalid_argument(f"Invalid field selection {query['fields']}", "fields")
        return result

    def query(self, query_string):
        query = {}
        for name, value in urllib.parse.parse_qsl(query_string, keep_blank_values=True):
            if name not in METHOD_PARAMETERS and name not in SYSTEM_PARAMETERS:
                raise invalid_argument(f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                                       f"parameter. Field '{name}' could not be found in request message.", name)
            query[name] = value
        if query.get("alt", "json") != "json":
            raise invalid_argument(f"The GCE test peer answers alt=json only, not alt={query['alt']}.")
        if query.get("$.xgafv", "1") not in ("1", "2"):
            raise invalid_argument(f"Invalid value at 'xgafv' (type.googleapis.com/system_parameters.Xgafv), "
                                   f"\"{query['$.xgafv']}\"", "xgafv")
        return query

    @staticmethod
    def page_size(text):
        if text is None or text == "":
            return MAX_PAGE_SIZE
        if not re.fullmatch(r"[+-]?[0-9]+", text) or not -2 ** 31 <= int(text) < 2 ** 31:
            raise invalid_argument(f"Invalid value at 'page_size' (TYPE_INT32), \"{text}\"", "page_size")
        size = int(text)
        if size < 0:
            raise invalid_argument("Requested page size cannot be negative.", "page_size")
        # AIP-158: 0 is the default; more than the maximum is coerced to it.
        return min(size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)

    @staticmethod
    def effective_time(start_text, end_text):
        """The pricing's effectiveTime: the range's start, or (no range) a moment of the last 12 hours."""
        now = datetime.datetime.now(datetime.timezone.utc)
        start = parse_timestamp("startTime", start_text) if start_text else None
        end = parse_timestamp("endTime", end_text) if end_text else None
        if start is None and end is None:
            return rfc3339(now.replace(minute=0, second=0, microsecond=0))
        if start is None or end is None:
            raise invalid_argument("Both start_time and end_time must be set to request a time range.")
        if start > now or end > now:
            raise invalid_argument("Timestamps in the future are not allowed.")
        if start >= end:
            raise invalid_argument("start_time must be earlier than end_time.")
        first, last = start.astimezone(PACIFIC), (end - datetime.timedelta(microseconds=1)).astimezone(PACIFIC)
        if (first.year, first.month) != (last.year, last.month):
            raise invalid_argument("The time range has to be within a single calendar month in "
                                   "America/Los_Angeles timezone.")
        return rfc3339(start)

    def page_token(self, offset, binding):
        payload = base64.urlsafe_b64encode(json.dumps(dict(binding, o=offset), separators=(",", ":")).encode())
        mac = hmac.new(self.secret, payload, hashlib.sha256).digest()[:12]
        return (payload + b"." + base64.urlsafe_b64encode(mac)).decode().replace("=", "")

    def read_page_token(self, token, binding):
        if not token:
            return 0
        try:
            payload, mac = token.split(".")
            payload_bytes = payload.encode()
            padded = payload_bytes + b"=" * (-len(payload_bytes) % 4)
            expected = hmac.new(self.secret, padded, hashlib.sha256).digest()[:12]
            if not hmac.compare_digest(base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4)), expected):
                raise ValueError("not ours")
            content = json.loads(base64.urlsafe_b64decode(padded))
            offset = content.pop("o")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise invalid_argument("Invalid page token.", "page_token")
        if content != binding:
            raise invalid_argument("The page token was issued for a different request (its service, "
                                   "currency_code, start_time and end_time must stay the same).", "page_token")
        if not isinstance(offset, int) or not 0 <= offset <= len(self.skus):
            raise invalid_argument("Invalid page token.", "page_token")
        return offset


def table(regions, accelerator_regions, currency="USD"):
    """The catalogue as text, one SKU a line (for a reader: python3 gce_billing.py)."""
    lines = []
    for sku in sorted(build_catalogue(regions, accelerator_regions),
                      key=lambda s: (s.regions[0], s.usage_type, s.description)):
        prices = ", ".join(f"{price * CURRENCY_RATES[currency]:.6f}" + (f" from {start}" if start else "")
                           for start, price in sku.tiers)
        lines.append(f"{sku.sku_id}  {'/'.join(sku.regions):40.40} {sku.usage_type:11} {sku.unit:8} {prices:>12}  "
                     f"{sku.description}")
    return "\n".join(lines)


if __name__ == "__main__":
    from gce_peer import ACCELERATOR_TYPES, REGIONS, ZONE_REGION
    print(table(list(REGIONS), {name: {ZONE_REGION[z] for z in spec[3]} for name, spec in ACCELERATOR_TYPES.items()}))
