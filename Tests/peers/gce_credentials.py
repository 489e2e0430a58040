#!/usr/bin/env python3
"""Test credentials for the GCE peer, written as Google writes them.

  gce_credentials.py make DIR --project P [--account NAME]
      DIR/service-account.json            a service-account JSON key exactly like one Google
                                          issues (token_uri stays Google's), RSA 2048, PKCS#8
      DIR/service-account-wrong-key.json  the same account and key id, another key: what a
                                          deleted or rotated key looks like to Google
      DIR/authorized-user.json            gcloud's application-default credentials
      DIR/accounts.json                   what the peer is given: public keys, client secrets
      Prints {"client_email": ..., "private_key_id": ...}.

  gce_credentials.py jwt KEYFILE [--scope S] [--aud A] [--iat-offset SECONDS]
                                 [--lifetime SECONDS] [--kid K | --no-kid] [--alg A]
      Prints an RS256 JWT bearer assertion signed with the key file's private key, with the
      claims Google documents (iss, scope, aud, iat, exp): for tests that need a token
      without going through cloudc, or a deliberately wrong assertion.
"""
import argparse
import base64
import json
import os
import secrets
import sys
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
COMPUTE_SCOPE = "https://www.googleapis.com/auth/compute"


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_file(project, email, key_id, client_id, key):
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": private_pem(key),
        "client_email": email,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": GOOGLE_TOKEN_URL,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + urllib.parse.quote(email),
        "universe_domain": "googleapis.com",
    }


def write(path, document):
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as f:
        json.dump(document, f, indent=2)
        f.write("\n")


def make(args):
    os.makedirs(args.dir, exist_ok=True)
    email = f"{args.account}@{args.project}.iam.gserviceaccount.com"
    key_id = secrets.token_hex(20)
    client_id = str(100000000000000000000 + secrets.randbelow(10 ** 20))
    key, wrong = new_key(), new_key()
    write(os.path.join(args.dir, "service-account.json"), key_file(args.project, email, key_id, client_id, key))
    write(os.path.join(args.dir, "service-account-wrong-key.json"),
          key_file(args.project, email, key_id, client_id, wrong))
    user = {
        "account": "",
        "client_id": f"{secrets.randbelow(10 ** 12):012d}-{secrets.token_hex(16)}.apps.googleusercontent.com",
        "client_secret": "GOCSPX-" + secrets.token_urlsafe(21),
        "quota_project_id": args.project,
        "refresh_token": "1//" + secrets.token_urlsafe(72),
        "type": "authorized_user",
        "universe_domain": "googleapis.com",
    }
    write(os.path.join(args.dir, "authorized-user.json"), user)
    write(os.path.join(args.dir, "accounts.json"), {
        "service_accounts": [{"client_email": email, "private_key_id": key_id, "public_key": public_pem(key)}],
        "authorized_users": [{"client_id": user["client_id"], "client_secret": user["client_secret"],
                              "refresh_token": user["refresh_token"], "email": "researcher@example.com"}],
    })
    print(json.dumps({"client_email": email, "private_key_id": key_id}))


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(args):
    with open(args.keyfile, encoding="utf-8") as f:
        account = json.load(f)
    key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    header = {"alg": args.alg, "typ": "JWT"}
    if not args.no_kid:
        header["kid"] = args.kid or account["private_key_id"]
    now = int(time.time()) + args.iat_offset
    claims = {"iss": account["client_email"], "aud": args.aud, "iat": now, "exp": now + args.lifetime}
    if args.scope:
        claims["scope"] = args.scope
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    print(signing_input + "." + b64url(signature))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    m = commands.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--project", required=True)
    m.add_argument("--account", default="cloudc-test")
    j = commands.add_parser("jwt")
    j.add_argument("keyfile")
    j.add_argument("--scope", default=COMPUTE_SCOPE, help="'' for none")
    j.add_argument("--aud", default=GOOGLE_TOKEN_URL)
    j.add_argument("--iat-offset", type=int, default=0)
    j.add_argument("--lifetime", type=int, default=3600)
    j.add_argument("--kid")
    j.add_argument("--no-kid", action="store_true")
    j.add_argument("--alg", default="RS256")
    args = parser.parse_args()
    {"make": make, "jwt": jwt}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
