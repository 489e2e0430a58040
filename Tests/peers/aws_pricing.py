"""The AWS Price List Query API's GetProducts (service ``pricing``), which moto lacks, served by
moto_peer.py in moto's own process: moto_peer's middleware hands every request whose
``X-Amz-Target`` starts with ``AWSPriceListService.`` to `handle` (a WSGI app) instead of to moto.

    POST /   Content-Type: application/x-amz-json-1.1   X-Amz-Target: AWSPriceListService.GetProducts
    Authorization: AWS4-HMAC-SHA256 Credential=KEY/YYYYMMDD/us-east-1/pricing/aws4_request, ...
    {"ServiceCode": "AmazonEC2", "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}, ...],
     "FormatVersion": "aws_v1", "MaxResults": 100, "NextToken": "..."}
    → 200 {"FormatVersion": "aws_v1", "PriceList": ["{\\"product\\": ...}", ...], "NextToken": "..." (while more remain)}

answered from aws_price_list.py's products, as the real service answers (botocore's model of
``pricing`` 2017-10-15 checks the input; the AWS JSON 1.1 protocol, errors included):

- Authentication as moto's: checked once moto checks signatures (moto_setup.py's reset-auth; before
  that, like moto, anything goes, and the request counts toward INITIAL_NO_AUTH_ACTION_COUNT).
  Then, in the order AWS's front end checks them: an Authorization header (else 400
  MissingAuthenticationTokenException), its parts and X-Amz-Date (IncompleteSignatureException),
  the clock (15 minutes either way), ``host`` signed, the credential scope (region us-east-1,
  eu-central-1 or ap-south-1, the three real endpoints' regions; service ``pricing``; the request's
  date; else InvalidSignatureException "Credential should be scoped to ..."), the access key, looked up
  in moto's IAM backend (else UnrecognizedClientException), and the signature, recomputed with
  botocore's SigV4 over the headers the request says it signed and its body (else
  InvalidSignatureException with the canonical request and string to sign AWS would show).
  IAM: a policy of the caller that explicitly denies pricing:GetProducts refuses it (400
  AccessDeniedException), e.g. moto_setup.py's ``DENIED_ACTION`` pricing:GetProducts. Real AWS also
  refuses a caller that no policy allows it; moto_setup.py allows only ec2:*, so that is checked
  only with MOTO_PEER_PRICING_REQUIRE_ALLOW=1.
- Input: a JSON object; a member of the wrong JSON type → SerializationException; the model's
  constraints (Filters ≤ 50; each Filter's Type one of the model's enum, Field and Value 1..1024
  characters; MaxResults 1..100; ...) → ValidationException in Coral's words ("1 validation error
  detected: Value '0' at 'maxResults' failed to satisfy constraint: ..."); members the model lacks are
  ignored, as Coral does. Then the service's own checks, InvalidParameterException: ServiceCode
  missing or empty ("Input Parameters are invalid. serviceCode cannot be null or empty", AWS's
  words) or not alphanumeric, FormatVersion other than aws_v1. A well-formed service code other than
  AmazonEC2 → NotFoundException. A NextToken this peer did not hand out for the same ServiceCode,
  Filters and FormatVersion → InvalidNextTokenException.
- Filters (all must match): Field ``ServiceCode``, ``sku`` or ``productFamily`` (any case) match the
  product's own; any other Field names an attribute exactly (a product without it never matches).
  TERM_MATCH: equal, ignoring case. EQUALS: equal, case too. CONTAINS: a substring, case too.
  ANY_OF / NONE_OF: Value is a comma-separated list; equal (ignoring case) to one of them / to none.
- Pages: MaxResults (default 100) products in aws_price_list.py's order; NextToken (``base64:base64``
  like AWS's) while more remain; tokens do not expire.
- Errors: HTTP 400 (500 for a fault of the peer), ``{"__type": "<namespace>#<Name>", "message": ...}``
  (``Message`` for the errors the model declares, as in their shape), header x-amzn-RequestId on
  every answer. The service's other operations (DescribeServices, GetAttributeValues,
  GetPriceListFileUrl, ListPriceLists) and unknown targets: 400 UnknownOperationException. Not POST,
  or a body that is not JSON by its Content-Type: 404 ``<UnknownOperationException/>``.

Only the standard library, botocore and moto (both already here with moto).
"""
import base64
import datetime
import email.utils
import hmac
import json
import os
import secrets
import sys
import threading
import traceback
import uuid
from hashlib import sha256
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from botocore.loaders import Loader
from botocore.model import ServiceModel
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import CreateAccessKeyFailure, IAMPolicy, PermissionResult, create_access_key
from moto.iam.models import get_account_id_from, mark_account_as_visited
from moto.utilities.utils import get_partition

import aws_price_list

TARGET_PREFIX = "AWSPriceListService."
SIGNING_NAME = "pricing"
SIGNING_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")  # api.pricing.<region>.amazonaws.com
CONTENT_TYPES = ("application/x-amz-json-1.1", "application/json")
JSON_11 = "application/x-amz-json-1.1"
CORAL = "com.amazon.coral.service#"
CORAL_VALIDATE = "com.amazon.coral.validate#"
PRICING = "com.amazonaws.pricing#"
CLOCK_SKEW = datetime.timedelta(minutes=15)
TIMESTAMP = "%Y%m%dT%H%M%SZ"
ACTION = "pricing:GetProducts"

MODEL = ServiceModel(Loader().load_service_model("pricing", "service-2"), "pricing")
GET_PRODUCTS = MODEL.operation_model("GetProducts")
FORMAT_VERSION = "aws_v1"
DEFAULT_MAX_RESULTS = GET_PRODUCTS.input_shape.members["MaxResults"].metadata["max"]
KNOWN_SERVICE_CODES = {aws_price_list.SERVICE_CODE}

# Each product once as the JSON string GetProducts hands out, beside the product itself.
ITEMS = [(product, json.dumps(product, separators=(",", ":"))) for product in aws_price_list.PRODUCTS]


class PricingError(Exception):
    def __init__(self, status, kind, message=None, message_key="message"):
        super().__init__(message)
        self.status, self.kind, self.message, self.message_key = status, kind, message, message_key

    def body(self):
        payload = {"__type": self.kind}
        if self.message is not None:
            payload[self.message_key] = self.message
        return payload


def framework_error(name, message=None):
    """An error of AWS's front end (Coral), before the service sees the request."""
    return PricingError(400, CORAL + name, message)


def service_error(name, message):
    """An error the pricing model declares (its shapes' member is ``Message``)."""
    status = 500 if name == "InternalErrorException" else 400
    return PricingError(status, PRICING + name, message, message_key="Message")


class NotJSONProtocol(Exception):
    """Not a JSON 1.1 request at all: AWS answers 404 <UnknownOperationException/>."""


def handles(environ):
    return environ.get("HTTP_X_AMZ_TARGET", "").startswith(TARGET_PREFIX)


def handle(environ, start_response):
    """The WSGI app for AWSPriceListService.* requests."""
    headers = [("x-amzn-RequestId", str(uuid.uuid4()))]
    try:
        status, payload = 200, dispatch(environ, read_body(environ))
    except NotJSONProtocol:
        data = b"<UnknownOperationException/>\n"
        start_response("404 Not Found", headers + [("Content-Type", "application/xml"),
                                                   ("Content-Length", str(len(data)))])
        return [data]
    except PricingError as error:
        status, payload = error.status, error.body()
    except Exception:  # a fault of the peer: say so as the service would, and log it
        traceback.print_exc(file=sys.stderr)
        status, payload = 500, service_error("InternalErrorException", "An internal error occurred.").body()
    data = json.dumps(payload).encode()
    reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}[status]
    start_response(f"{status} {reason}", headers + [("Content-Type", JSON_11), ("Content-Length", str(len(data)))])
    return [data]


def read_body(environ):
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked (libcurl's way): read to its end
        return stream.read()
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return stream.read(length) if length > 0 else b""


def request_headers(environ):
    """The request's headers, named as sent (X-Amz-Date, Host, ...)."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key
        else:
            continue
        headers["-".join(part.capitalize() for part in name.split("_"))] = value
    return headers


def dispatch(environ, body):
    content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if environ.get("REQUEST_METHOD") != "POST" or (body and content_type not in CONTENT_TYPES):
        raise NotJSONProtocol()
    data = None
    if body:
        try:
            data = json.loads(body)
        except ValueError:
            raise framework_error("SerializationException", "The request body is not valid JSON.")
    operation = environ["HTTP_X_AMZ_TARGET"][len(TARGET_PREFIX):]
    if operation != "GetProducts":
        # The service's other operations are real, but not this peer's.
        raise framework_error("UnknownOperationException",
                              f"{TARGET_PREFIX}{operation} is not implemented by this peer (only GetProducts)"
                              if operation in MODEL.operation_names else None)
    authenticate(environ, body)
    if not isinstance(data, dict):
        raise framework_error("SerializationException",
                              "The request body must be a JSON object." if body else None)
    return get_products(data)


# --- Authentication (SigV4) and authorisation (IAM), as moto does them for its own services ---

class ServerSigV4(SigV4Auth):
    """botocore's SigV4, computed as the server must: over exactly the headers the request
    says it signed, and the hash of the body it received."""

    def __init__(self, credentials, region, signed_headers):
        super().__init__(credentials, SIGNING_NAME, region)
        self.signed = signed_headers

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name in self.signed:
            header_map[name] = request.headers.get(name, "")
        return header_map

    def payload(self, request):
        return sha256(request.body or b"").hexdigest()

    def canonical_request(self, request):
        headers = self.headers_to_sign(request)
        return "\n".join([request.method.upper(), self._normalize_url_path(urlsplit(request.url).path),
                          self.canonical_query_string(request), self.canonical_headers(headers) + "\n",
                          self.signed_headers(headers), self.payload(request)])


def moto_checks_auth():
    """Whether moto checks signatures now; while it does not, a request counts toward the ones
    it lets through (INITIAL_NO_AUTH_ACTION_COUNT), as one of moto's own does."""
    if ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return True
    ActionAuthenticatorMixin.request_count += 1
    return False


def authenticate(environ, body, now=None):
    if not moto_checks_auth():
        return
    headers = request_headers(environ)
    authorization = headers.get("Authorization", "").strip()
    if not authorization.startswith("AWS4-"):
        raise framework_error("MissingAuthenticationTokenException", "Request is missing Authentication Token")
    algorithm, _, rest = authorization.partition(" ")
    parts = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        parts[name] = value
    missing = "".join(f"Authorization header requires '{name}' parameter. "
                      for name in ("Credential", "Signature", "SignedHeaders") if not parts.get(name))
    stamp = headers.get("X-Amz-Date") or headers.get("Date")
    if not stamp:
        missing += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
    if missing:
        raise framework_error("IncompleteSignatureException", f"{missing}Authorization={authorization}")
    when = parse_date(stamp)
    if when is None:
        raise framework_error("IncompleteSignatureException",
                              f"Date must be in ISO-8601 'basic format'. Got '{stamp}'. "
                              "See http://en.wikipedia.org/wiki/ISO_8601")
    timestamp = when.strftime(TIMESTAMP)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if when < now - CLOCK_SKEW:
        raise framework_error("InvalidSignatureException",
                              f"Signature expired: {timestamp} is now earlier than "
                              f"{(now - CLOCK_SKEW).strftime(TIMESTAMP)} ({now.strftime(TIMESTAMP)} - 15 min.)")
    if when > now + CLOCK_SKEW:
        raise framework_error("InvalidSignatureException",
                              f"Signature not yet current: {timestamp} is still later than "
                              f"{(now + CLOCK_SKEW).strftime(TIMESTAMP)} ({now.strftime(TIMESTAMP)} + 15 min.)")
    signed = [name.strip().lower() for name in parts["SignedHeaders"].split(";") if name.strip()]
    if "host" not in signed:
        raise framework_error("InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    if algorithm != "AWS4-HMAC-SHA256":
        raise framework_error("IncompleteSignatureException",
                              f"Unsupported AWS 'algorithm': '{algorithm}' (only AWS4-HMAC-SHA256 for now). ")
    credential = parts["Credential"].rstrip("/")
    scope = credential.split("/")
    if len(scope) != 5:
        raise framework_error("IncompleteSignatureException",
                              "Credential must have exactly 5 slash-delimited elements, "
                              f"e.g. keyid/date/region/service/term, got '{credential}'")
    key_id, day, region, service, terminator = scope
    wrong = ""
    if region not in SIGNING_REGIONS:
        wrong += f"Credential should be scoped to a valid region, not '{region}'. "
    if service != SIGNING_NAME:
        wrong += f"Credential should be scoped to correct service: '{SIGNING_NAME}'. "
    if terminator != "aws4_request":
        wrong += f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
    if day != timestamp[:8]:
        wrong += ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                  f"'{day}' != '{timestamp[:8]}', from '{timestamp}'.")
    if wrong:
        raise framework_error("InvalidSignatureException", wrong)

    account = get_account_id_from(key_id)
    try:
        access_key = create_access_key(account_id=account, partition=get_partition(region),
                                       access_key_id=key_id, headers=headers)
    except CreateAccessKeyFailure:
        raise framework_error("UnrecognizedClientException", "The security token included in the request is invalid.")

    query = environ.get("QUERY_STRING", "")
    request = AWSRequest(method=environ["REQUEST_METHOD"],
                         url=(environ.get("PATH_INFO") or "/") + (f"?{query}" if query else ""),
                         data=body, headers={name: value for name, value in headers.items() if name.lower() in signed})
    request.context["timestamp"] = timestamp
    signer = ServerSigV4(access_key.create_credentials(), region, signed)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    if not hmac.compare_digest(signer.signature(string_to_sign, request), parts["Signature"]):
        raise framework_error(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details.\n\n"
            f"The Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n")
    try:
        mark_account_as_visited(account_id=account, access_key=key_id, service=SIGNING_NAME, region=region)
    except Exception:
        pass
    authorize(access_key)


def parse_date(stamp):
    try:
        return datetime.datetime.strptime(stamp, TIMESTAMP).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        pass
    try:  # a Date header (RFC 7231)
        when = email.utils.parsedate_to_datetime(stamp)
        return when.astimezone(datetime.timezone.utc) if when.tzinfo else None
    except (TypeError, ValueError):
        return None


def authorize(access_key):
    allowed = False
    for policy in access_key.collect_policies():
        result = IAMPolicy(policy).is_action_permitted(ACTION, "*")
        if result == PermissionResult.DENIED:
            raise service_error("AccessDeniedException", f"User: {access_key.arn} is not authorized to perform: "
                                f"{ACTION} with an explicit deny in an identity-based policy")
        allowed = allowed or result == PermissionResult.PERMITTED
    if not allowed and os.environ.get("MOTO_PEER_PRICING_REQUIRE_ALLOW") == "1":
        raise service_error("AccessDeniedException", f"User: {access_key.arn} is not authorized to perform: "
                            f"{ACTION} because no identity-based policy allows the {ACTION} action")


# --- Input checks: the model's (Coral's) first, then the service's ---

JSON_TYPES = {"structure": dict, "list": list, "string": str, "integer": int, "long": int, "boolean": bool}


def validate(value, shape, path, problems):
    """Appends Coral's words for each constraint `value` breaks; raises SerializationException
    for a value of the wrong JSON type."""
    expected = JSON_TYPES.get(shape.type_name)
    if expected and (not isinstance(value, expected) or (expected is int and isinstance(value, bool))):
        raise framework_error("SerializationException",
                              f"Expected a {shape.type_name} at '{path or '$'}', got {type(value).__name__}")
    metadata = shape.metadata
    shown = json.dumps(value) if shape.type_name in ("structure", "list") else value
    if shape.type_name == "structure":
        for name in shape.required_members:
            if value.get(name) is None and name != "ServiceCode":  # the service says more about that one
                problems.append(f"Value null at '{join(path, name)}' failed to satisfy constraint: "
                                "Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                validate(value[name], member, join(path, name), problems)
    elif shape.type_name == "list":
        check_range(len(value), metadata, "length", shown, path, problems)
        for index, item in enumerate(value, 1):
            validate(item, shape.member, f"{path}.{index}.member", problems)
    elif shape.type_name == "string":
        check_range(len(value), metadata, "length", shown, path, problems)
        if shape.enum and value not in shape.enum:
            problems.append(f"Value '{value}' at '{path}' failed to satisfy constraint: "
                            f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    elif shape.type_name in ("integer", "long"):
        check_range(value, metadata, "value", shown, path, problems)


def check_range(amount, metadata, what, shown, path, problems):
    if "min" in metadata and amount < metadata["min"]:
        problems.append(f"Value '{shown}' at '{path}' failed to satisfy constraint: "
                        f"Member must have {what} greater than or equal to {metadata['min']}")
    if "max" in metadata and amount > metadata["max"]:
        problems.append(f"Value '{shown}' at '{path}' failed to satisfy constraint: "
                        f"Member must have {what} less than or equal to {metadata['max']}")


def join(path, name):
    name = name[:1].lower() + name[1:]  # Coral names members in camel case: maxResults
    return f"{path}.{name}" if path else name


# --- GetProducts ---

tokens_lock = threading.Lock()
tokens = {}  # NextToken → (query, offset)
MAX_TOKENS = 100_000


def get_products(data):
    problems = []
    validate(data, GET_PRODUCTS.input_shape, "", problems)
    if problems:
        count = len(problems)
        raise PricingError(400, CORAL_VALIDATE + "ValidationException",
                           f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems))
    service_code = data.get("ServiceCode") or ""
    if not service_code:
        raise service_error("InvalidParameterException", "Input Parameters are invalid. serviceCode cannot be null or empty")
    if not service_code.isascii() or not service_code.isalnum():
        raise service_error("InvalidParameterException", "ServiceCode can only contain a-z, A-Z, 0-9")
    format_version = data.get("FormatVersion") or FORMAT_VERSION
    if format_version != FORMAT_VERSION:
        raise service_error("InvalidParameterException",
                            f"Input Parameters are invalid. FormatVersion {format_version} is not supported. "
                            f"Valid values are: {FORMAT_VERSION}")
    if service_code not in KNOWN_SERVICE_CODES:
        raise service_error("NotFoundException", f"The requested service code {service_code} was not found")
    filters = [(f["Type"], f["Field"], f["Value"]) for f in data.get("Filters") or []]
    query = json.dumps([service_code, filters, format_version])
    offset = 0
    if data.get("NextToken") is not None:
        with tokens_lock:
            issued = tokens.get(data["NextToken"])
        if issued is None or issued[0] != query:
            raise service_error("InvalidNextTokenException",
                                "The pagination token is invalid. Try again without a pagination token.")
        offset = issued[1]
    limit = data.get("MaxResults") or DEFAULT_MAX_RESULTS
    found = [text for product, text in ITEMS
             if product["serviceCode"] == service_code and all(matches(product, *f) for f in filters)]
    answer = {"FormatVersion": format_version, "PriceList": found[offset:offset + limit]}
    if offset + limit < len(found):
        answer["NextToken"] = issue_token(query, offset + limit)
    return answer


def issue_token(query, offset):
    token = (base64.b64encode(secrets.token_bytes(16)).decode() + ":"
             + base64.b64encode(secrets.token_bytes(96)).decode())
    with tokens_lock:
        if len(tokens) >= MAX_TOKENS:
            tokens.pop(next(iter(tokens)))
        tokens[token] = (query, offset)
    return token


SPECIAL_FIELDS = {
    "servicecode": lambda product: product["serviceCode"],
    "sku": lambda product: product["product"]["sku"],
    "productfamily": lambda product: product["product"]["productFamily"],
}


def matches(product, kind, field, value):
    special = SPECIAL_FIELDS.get(field.lower())
    actual = special(product) if special else product["product"]["attributes"].get(field)
    if actual is None:
        return False
    if kind == "TERM_MATCH":
        return actual.casefold() == value.casefold()
    if kind == "EQUALS":
        return actual == value
    if kind == "CONTAINS":
        return value in actual
    listed = {item.strip().casefold() for item in value.split(",")}
    if kind == "ANY_OF":
        return actual.casefold() in listed
    if kind == "NONE_OF":
        return actual.casefold() not in listed
    return False
