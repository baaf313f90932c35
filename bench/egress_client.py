"""Timed HTTP(S) requests for ``bench.egress_bench``, run inside a sandbox (through its proxy) or on the host (direct).

``python3 egress_client.py MODE RUNS ADDRESS CAFILE``; MODE is ``direct`` or ``proxy`` (ADDRESS: the host's, for
``direct``). Prints one JSON object: seconds per request for each kind, every request on a new connection (as curl or a
fresh pip run makes them), plus requests on one kept-alive TLS connection. Standard library only.
"""

import http.client
import json
import os
import socket
import ssl
import sys
import time

MODE, RUNS, TARGET, CAFILE = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
PROXY = ("127.0.0.1", 3128)


CONTEXT = ssl.create_default_context(cafile=CAFILE)


def http_once(host):
    if MODE == "proxy":
        conn = http.client.HTTPConnection(*PROXY)
        conn.request("GET", f"http://{host}/hello")
    else:
        conn = http.client.HTTPConnection(TARGET, 80)
        conn.request("GET", "/hello", headers={"Host": host})
    body = conn.getresponse().read()
    conn.close()
    assert body.startswith(b"hello"), body


def https_conn(host, ctx):
    if MODE == "proxy":
        conn = http.client.HTTPSConnection(*PROXY, context=ctx)
        conn.set_tunnel(host, 443)
        return conn
    conn = http.client.HTTPSConnection(TARGET, 443, context=ctx)
    # Verify the certificate for the name while connecting to the address (the host resolver has no test names).
    conn._create_connection = lambda *_args, **_kwargs: socket.create_connection((TARGET, 443))
    conn.host = host
    return conn


def https_once(host, headers, conn=None):
    own = conn is None
    conn = conn or https_conn(host, CONTEXT)
    conn.request("GET", "/hello", headers=headers)
    body = conn.getresponse().read()
    if own:
        conn.close()
    assert body.startswith(b"hello"), body


def timed(call, *args):
    samples = []
    for _ in range(RUNS):
        began = time.perf_counter()
        call(*args)
        samples.append(time.perf_counter() - began)
    return samples


token = os.environ.get("BENCH_TOKEN", "no-token")
auth = {"Authorization": f"Bearer {token}"}
results = {
    "http": timed(http_once, "internet.test"),
    "https_tunnel": timed(https_once, "other.test", {}),
    "https_substituted": timed(https_once, "internet.test", auth),
}
kept = https_conn("internet.test", CONTEXT)
https_once("internet.test", auth, kept)
results["https_kept_alive"] = timed(https_once, "internet.test", auth, kept)
print(json.dumps(results))  # noqa: T201
