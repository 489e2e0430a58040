"""What the local HTTP peers (gce_peer.py, openstack_peer.py) share.

`PeerHandler` reads request bodies (chunked too, as libcurl sends them) and hands every
method to the subclass's `handle_request`; `serve` listens on 127.0.0.1 and writes the port
into a file once it does (renamed into place, so a reader never sees half of it).
`RequestCounter` counts what a peer received, for its ``GET /_peer/requests``.
"""

import collections
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PeerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""
    peer = None  # set by the peer's main

    def log_message(self, format, *args):
        pass  # each peer writes one line per request itself

    def handle_request(self):
        raise NotImplementedError

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    def do_PUT(self):
        self.handle_request()

    def do_DELETE(self):
        self.handle_request()

    def do_PATCH(self):
        self.handle_request()

    def do_HEAD(self):
        self.handle_request()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


SAFE_METHODS = ("GET", "HEAD")


class RequestCounter:
    """The requests a peer received, for ``GET /_peer/requests`` (tests check that a dry run
    makes no mutating call): ``{"mutating": N, "total": M, "log": [[METHOD, PATH], ...]}``, the
    log holding the last LOG_SIZE requests, oldest first (PATH without its query). The peer
    records each request as it arrives, before any check: one it then refuses (no or a bad
    token, a bad body, an injected fault) still counts, since it was made. ``reset`` sets all
    to zero and returns what it held (read and clear at once)."""

    LOG_SIZE = 200

    def __init__(self):
        self.lock = threading.Lock()
        self.mutating = 0
        self.total = 0
        self.log = collections.deque(maxlen=self.LOG_SIZE)

    def record(self, method, path, mutating):
        with self.lock:
            self.total += 1
            if mutating:
                self.mutating += 1
            self.log.append([method, path])

    def snapshot(self):
        with self.lock:
            return {"mutating": self.mutating, "total": self.total, "log": [list(entry) for entry in self.log]}

    def reset(self):
        with self.lock:
            held = {"mutating": self.mutating, "total": self.total, "log": [list(entry) for entry in self.log]}
            self.mutating = 0
            self.total = 0
            self.log.clear()
            return held


def listen(handler, port=0):
    """A threading server on 127.0.0.1 (port 0: any free one); returns it and its port."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server, server.server_address[1]


def serve(server, port_file=None):
    """Writes the port into `port_file` (atomically), then serves until killed."""
    if port_file:
        temporary = port_file + ".tmp"
        with open(temporary, "w") as f:
            f.write(f"{server.server_address[1]}\n")
        os.rename(temporary, port_file)
    server.serve_forever()


def exit_with_parent():
    """Ends this process when the one that started it is gone (a test runner that was killed)."""
    def watch():
        parent = os.getppid()
        while True:
            time.sleep(1)
            if os.getppid() != parent:
                os._exit(0)
    threading.Thread(target=watch, daemon=True).start()
