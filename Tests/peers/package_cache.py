#!/usr/bin/env python3
"""A caching apt proxy for test nodes that have no route out, as a cloud image's mirror serves them.

Nodes set `Acquire::http::Proxy "http://HOST:PORT/"`; apt then asks for absolute URLs
(`GET http://deb.debian.org/debian/pool/...`). Only the Debian archive hosts named with --allow are
fetched (this is not an open proxy); everything else is refused with 403. Each file is fetched from
outside once however many nodes ask, even at the same moment:

- files that never change under their name (`pool/…`, `by-hash/…`) are kept and served from the
  cache from then on;
- index files (`Release`, `InRelease`, `Packages.xz`, …) are kept too: served from the cache for
  --index-ttl seconds after they were fetched (default 600: the nodes of one setup all ask within
  that), then revalidated upstream with If-Modified-Since where the archive gave a Last-Modified.

`--stats FILE` is rewritten after every request with what came from outside and what went to the
nodes, in bytes and files, for benchmarks and tests.

Usage: package_cache.py --cache DIR [--port N] [--port-file FILE] [--bind ADDR] [--allow HOST ...] [--stats FILE] [--index-ttl S]
"""
import argparse
import hashlib
import http.client
import http.server
import json
import os
import socketserver
import sys
import tempfile
import threading
import time
import urllib.parse

IMMUTABLE = ("/pool/", "/by-hash/")
CHUNK = 1 << 16


class Cache:
    def __init__(self, root, allowed, stats_path, index_ttl):
        self.root = root
        self.index_ttl = index_ttl
        self.allowed = set(allowed)
        self.stats_path = stats_path
        self.lock = threading.Lock()
        self.url_locks = {}
        self.stats = {"upstream_bytes": 0, "upstream_files": 0, "served_bytes": 0, "served_files": 0,
                      "hits": 0, "revalidated": 0, "refused": 0}
        os.makedirs(root, exist_ok=True)

    def url_lock(self, url):
        with self.lock:
            return self.url_locks.setdefault(url, threading.Lock())

    def count(self, **deltas):
        with self.lock:
            for key, value in deltas.items():
                self.stats[key] += value
            if self.stats_path:
                fd, temporary = tempfile.mkstemp(dir=os.path.dirname(self.stats_path) or ".")
                with os.fdopen(fd, "w") as out:
                    json.dump(self.stats, out, sort_keys=True)
                os.replace(temporary, self.stats_path)

    @staticmethod
    def write_meta(meta_path, meta):
        with open(meta_path + ".tmp", "w") as f:
            json.dump(meta, f)
        os.replace(meta_path + ".tmp", meta_path)

    def path_of(self, url):
        digest = hashlib.sha256(url.encode()).hexdigest()
        return os.path.join(self.root, digest[:2], digest)

    def fetch(self, url):
        """The cached file of `url`, fetched or revalidated as needed: (path, status, headers) or an error status."""
        parts = urllib.parse.urlsplit(url)
        path = self.path_of(url)
        meta_path = path + ".json"
        with self.url_lock(url):
            meta = None
            if os.path.exists(path) and os.path.exists(meta_path):
                with open(meta_path) as f:
                    meta = json.load(f)
                fresh = time.time() - meta.get("fetched_at", 0) < self.index_ttl
                if fresh or any(marker in parts.path for marker in IMMUTABLE):
                    self.count(hits=1)
                    return path, 200, meta["headers"]
            headers = {"User-Agent": "cloudc-package-cache"}
            if meta and meta["headers"].get("Last-Modified"):
                headers["If-Modified-Since"] = meta["headers"]["Last-Modified"]
            connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
            try:
                connection.request("GET", parts.path + (("?" + parts.query) if parts.query else ""), headers=headers)
                response = connection.getresponse()
                if response.status == 304 and meta:
                    response.read()
                    meta["fetched_at"] = time.time()
                    self.write_meta(meta_path, meta)
                    self.count(revalidated=1)
                    return path, 200, meta["headers"]
                if response.status != 200:
                    response.read()
                    return None, response.status, {}
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path))
                size = 0
                with os.fdopen(fd, "wb") as out:
                    while True:
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        size += len(chunk)
                meta = {"fetched_at": time.time(),
                        "headers": {key: response.getheader(key) for key in ("Content-Type", "Last-Modified")
                                    if response.getheader(key)}}
                os.replace(temporary, path)
                self.write_meta(meta_path, meta)
                self.count(upstream_bytes=size, upstream_files=1)
                return path, 200, meta["headers"]
            finally:
                connection.close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cache = None

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def refuse(self, status, text):
        body = (text + "\n").encode()
        self.cache.count(refused=1)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_CONNECT(self):
        self.refuse(403, "this cache serves http:// Debian archives only")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = self.path
        if url.startswith("/"):
            # The URL-path form: http://CACHE/deb.debian.org/debian/...
            url = "http:/" + url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or parts.hostname not in self.cache.allowed:
            self.refuse(403, "not an allowed archive: %s (allowed: %s)" % (parts.hostname, ", ".join(sorted(self.cache.allowed))))
            return
        try:
            path, status, meta = self.cache.fetch(url)
        except OSError as error:
            self.refuse(502, "cannot fetch %s: %s" % (url, error))
            return
        if path is None:
            self.refuse(status, "upstream answered %d for %s" % (status, url))
            return
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        for key, value in meta.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(path, "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                self.wfile.write(chunk)
        self.cache.count(served_bytes=size, served_files=1)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port, written to --port-file")
    parser.add_argument("--port-file", help="written (renamed into place) once the cache listens")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--cache", required=True)
    parser.add_argument("--allow", nargs="*", default=["deb.debian.org", "security.debian.org"])
    parser.add_argument("--stats")
    parser.add_argument("--index-ttl", type=float, default=600)
    args = parser.parse_args()
    Handler.cache = Cache(args.cache, args.allow, args.stats, args.index_ttl)
    server = Server((args.bind, args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(args.port_file + ".tmp", args.port_file)
    print("package cache on %s:%d, cache in %s" % (args.bind, port, args.cache), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
