"""The test internet's one host, run inside its own network namespace: ``python internet_host.py CONFIG.json``.

Serves HTTP on :80 and HTTPS on :443 (one certificate for every name the test upstream maps here), a UDP sink on :53,
and records every request and datagram it gets as a JSON line in the log file the config names, so tests can see what
reached it (and that nothing else did). Standard library only. Routes:

- ``/hello``: a greeting; ``/redirect?to=URL``: a 302 to URL; ``/record``: "recorded" (the request itself is logged).
- ``/simple/...`` and ``/packages/...``: a PyPI-style simple index over the config's package directory.
- ``/git/...``: the config's git directory over git's dumb HTTP protocol (static files).
"""

from __future__ import annotations

import html
import json
import os
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CONFIG = json.loads(Path(sys.argv[1]).read_text())
LOG = Path(CONFIG["log"])
PACKAGES = Path(CONFIG["packages"])
GIT = Path(CONFIG["git"])
LOCK = threading.Lock()


def record(entry: dict[str, object]) -> None:
    with LOCK, LOG.open("a") as log:
        log.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle and delayed ACKs add 40 ms to many responses.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain", headers: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()
        url = urlsplit(self.path)
        record(
            {
                "kind": "http",
                "tls": isinstance(self.connection, ssl.SSLSocket),
                "peer": self.client_address[0],
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode(errors="replace"),
            }
        )
        if url.path == "/hello":
            self._send(200, b"hello from the test internet\n")
        elif url.path == "/redirect":
            target = parse_qs(url.query)["to"][0]
            self._send(302, b"moved\n", headers={"Location": target})
        elif url.path == "/record":
            self._send(200, b"recorded\n")
        elif url.path.startswith("/simple"):
            self._simple(url.path)
        elif url.path.startswith("/packages/") or url.path.startswith("/git/"):
            root = PACKAGES if url.path.startswith("/packages/") else GIT
            self._static(root, url.path.split("/", 2)[2])
        else:
            self._send(404, b"not found\n")

    def _simple(self, path: str) -> None:
        parts = [p for p in path.split("/") if p][1:]
        wheels = sorted(PACKAGES.glob("*.whl"))
        if not parts:
            names = sorted({w.name.split("-")[0] for w in wheels})
            links = "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
        else:
            found = [w for w in wheels if w.name.split("-")[0].replace("_", "-") == parts[0].replace("_", "-")]
            if not found:
                self._send(404, b"no such project\n")
                return
            links = "".join(f'<a href="/packages/{html.escape(w.name)}">{html.escape(w.name)}</a>\n' for w in found)
        self._send(200, f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode(), "text/html")

    def _static(self, root: Path, relative: str) -> None:
        target = (root / relative).resolve()
        if not target.is_relative_to(root.resolve()) or not target.is_file():
            self._send(404, b"not found\n")
            return
        self._send(200, target.read_bytes(), "application/octet-stream")

    do_GET = do_POST = do_PUT = do_HEAD = _handle


def udp_sink() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 53))
    while True:
        data, peer = sock.recvfrom(65536)
        record({"kind": "udp", "peer": peer[0], "bytes": len(data)})


def main() -> None:
    plain = ThreadingHTTPServer(("0.0.0.0", 80), Handler)
    secure = ThreadingHTTPServer(("0.0.0.0", 443), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CONFIG["cert"], CONFIG["key"])
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    for target in (plain.serve_forever, secure.serve_forever, udp_sink):
        threading.Thread(target=target, daemon=True).start()
    Path(CONFIG["ready"]).write_text(str(os.getpid()))
    threading.Event().wait()


if __name__ == "__main__":
    main()
