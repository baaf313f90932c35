"""Run inside a sandbox: ``python3 egress_probe.py CASES.json`` tries each way out and prints one JSON line per case.

Standard library only (it runs on the sandbox's Python). A case is ``{"name", "kind", ...}``:

- ``connect``: a raw TCP connect to ``host:port``, bypassing the proxy.
- ``udp``: a datagram to ``host:port``.
- ``resolve``: a local DNS lookup of ``host``.
- ``proxy``: ``raw`` bytes sent to the proxy as they are; the answer's status line, headers and body come back.
"""

import json
import socket
import sys

PROXY = ("127.0.0.1", 3128)


def receive(sock):
    """Everything until the proxy closes, or whatever came before 5 s of silence (an open tunnel stays silent)."""
    sock.settimeout(5)
    answer = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return answer
        if not chunk:
            return answer
        answer += chunk


def attempt(case):
    kind = case["kind"]
    try:
        if kind == "connect":
            with socket.create_connection((case["host"], case["port"]), timeout=3):
                return {"outcome": "connected"}
        if kind == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(b"\x12\x34" + b"\x00" * 10, (case["host"], case["port"]))
                return {"outcome": "sent"}
        if kind == "resolve":
            return {"outcome": "resolved", "detail": str(socket.getaddrinfo(case["host"], 80))}
        with socket.create_connection(PROXY, timeout=10) as sock:
            sock.sendall(case["raw"].encode("latin-1"))
            answer = receive(sock)
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        return {"outcome": "answered", "status": lines[0], "headers": lines[1:], "body": body.decode("latin-1")}
    except OSError as err:
        return {"outcome": "failed", "detail": f"{type(err).__name__}: {err}"}


for case in json.load(open(sys.argv[1])):
    print(json.dumps({"name": case["name"], **attempt(case)}), flush=True)  # noqa: T201 - the probe's output
