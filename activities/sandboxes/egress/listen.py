"""Opens the egress proxy's listener inside a sandbox's network namespace and hands it to the worker.

Run by the worker as ``python -I -S listen.py PIDFD NAMESPACES PORT SOCKFD``, standard library only: it ``setns``es
into the namespaces ``NAMESPACES`` (a ``CLONE_NEW*`` mask) of the process ``PIDFD`` refers to (the sandbox's init, so
a recycled pid can never lead into another sandbox), binds a TCP listener to ``127.0.0.1:PORT`` there, sends its file
descriptor back over the Unix socket ``SOCKFD`` and exits. The socket stays in the sandbox's namespace: the worker
accepts the sandbox's connections on it while every process of the worker stays outside the sandbox, where nothing in
the sandbox can see, signal or replace it. Failure: a message on stderr and exit status 125.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys

CANNOT_LISTEN = 125
BACKLOG = 128


def main() -> None:
    """``listen.py PIDFD NAMESPACES PORT SOCKFD``: see the module docstring."""
    pidfd, namespaces, port, sockfd = (int(arg) for arg in sys.argv[1:5])
    channel = socket.socket(fileno=sockfd)
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        if libc.setns(pidfd, namespaces) != 0:
            raise OSError(ctypes.get_errno(), f"setns: {os.strerror(ctypes.get_errno())}")
        os.close(pidfd)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.bind(("127.0.0.1", port))
        listener.listen(BACKLOG)
        socket.send_fds(channel, [b"listening"], [listener.fileno()])
    except OSError as err:
        os.write(2, f"cannot open the egress listener in the sandbox: {err}\n".encode())
        os._exit(CANNOT_LISTEN)
    os._exit(0)


if __name__ == "__main__":
    main()
