"""The door into a running bwrap sandbox, which starts the file tools' helpers in there on the worker's request.

It is a process that has entered the sandbox as its shell runs, so every tool of a session sees the same
``/workspace``, ``/tmp`` and ``/dev/shm``. The worker starts it once per sandbox, on the first file-tool call
(``door.Door``), with its own interpreter: ``python -I -S enter.py PIDFD NICE RLIMITS SOCKFD`` (``RLIMITS`` as
``NPROC=128,AS=…``), the sandbox's environment and nothing else. Standard library only; nothing is imported once the
sandbox is entered, where the worker's Python installation does not exist. The steps:

0. Lower the priority and set the resource limits the sandbox's shell runs under.
1. When root, drop the supplementary groups (the sandbox's user namespace would refuse ``setgroups`` later).
2. ``setns`` into every namespace of the sandbox's init at once, through a pidfd the worker opened when the sandbox
   started: a recycled pid can never lead into another session's sandbox. Entering them in one call lets a non-root
   worker in too, since the kernel checks each namespace against the caller's credentials before the switch.
3. Empty the capability bounding set, become the sandbox user (uid/gid 1000), clear every capability and set
   no_new_privs: what bwrap leaves its own command with.
4. Serve: each request on the socket (``SOCK_SEQPACKET``, one JSON message each) either runs a command, with the
   request's two file descriptors as its stdin and its stdout + stderr, or kills one. A command is a child of this
   process, so it lives in the sandbox's pid namespace (which applies to children only) while this process stays
   outside it, invisible from inside. Each command's exit status goes back as ``{"id": …, "status": …}`` (128 + signal
   when killed). When the worker closes the socket, every command still running is killed and the door exits.

The first message is ``{"ready": true}``; a door that cannot enter writes why on stderr and exits with status 125.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import json
import os
import resource
import selectors
import signal
import socket
import sys

SANDBOX_ID = 1000
WORKSPACE = "/workspace"
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
CANNOT_ENTER = 125
MAX_MESSAGE = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def _prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def limit(niceness: int, rlimits: str) -> None:
    """Step 0: ``niceness`` more than the worker's, and every ``NAME=VALUE`` of ``rlimits`` as soft and hard limit."""
    os.nice(niceness)
    for item in rlimits.split(","):
        name, value = item.split("=")
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (int(value), int(value)))


def enter(pidfd: int, last_cap: int) -> None:
    """Steps 1 to 3: this process becomes the sandbox user inside the sandbox's namespaces."""
    if os.geteuid() == 0:
        os.setgroups([])
    _check(_libc.setns(pidfd, NAMESPACES), "setns into the sandbox")
    os.close(pidfd)
    for cap in range(last_cap + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    os.setresgid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID)
    os.setresuid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID)
    # Leaving a uid that is not root *in this namespace* keeps the capabilities setns granted: clear them explicitly.
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.chdir(WORKSPACE)


def _which(program: str) -> str:
    """``program`` looked up in ``$PATH`` inside the sandbox (``os.execvp`` would import a module)."""
    if "/" in program:
        return program
    for directory in os.environ.get("PATH", "").split(":"):
        candidate = f"{directory}/{program}"
        if os.access(candidate, os.X_OK):
            return candidate
    return program


def _exec(argv: list[str], stdin: int, stdout: int) -> None:
    """In a fresh child: become a process group of its own with the given stdio, and exec ``argv``."""
    try:
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(number, signal.SIG_DFL)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # The door lives outside this pid namespace, so it shows as pid 0; had it died already, this process would
        # have been handed to the sandbox's init (pid 1).
        if os.getppid() != 0:
            os._exit(CANNOT_ENTER)
        os.setpgid(0, 0)
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stdout, 2)
        os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        os.execve(_which(argv[0]), argv, os.environ)
    except Exception as err:  # noqa: BLE001 - whatever happens, the child must never return into the door's loop
        os.write(2, f"cannot run {argv[0]} in the sandbox: {err}\n".encode())
    os._exit(127)


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    message, ancillary, _flags, _address = sock.recvmsg(MAX_MESSAGE, socket.CMSG_LEN(2 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return message, list(fds)


class Door:
    """Step 4: the request loop."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.running: dict[int, int] = {}  # pid -> request id
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        self.wake = wake_read
        # A Python-level handler (SIG_IGN would reap children before their status is read) that just wakes the loop.
        signal.signal(signal.SIGCHLD, lambda _number, _frame: None)
        signal.set_wakeup_fd(wake_write)

    def serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ)
        selector.register(self.wake, selectors.EVENT_READ)
        self.sock.send(json.dumps({"ready": True}).encode())
        while True:
            for key, _events in selector.select():
                if key.fileobj is self.wake:
                    os.read(self.wake, 4096)
                    self.reap()
                elif not self.handle():
                    self.kill_all()
                    return

    def handle(self) -> bool:
        """Serve one request; False once the worker has closed its end."""
        message, fds = _receive(self.sock)
        if not message:
            return False
        request = json.loads(message)
        if "kill" in request:
            for pid, ident in self.running.items():
                if ident == request["kill"]:
                    # Not reaped yet (reaping happens only in this loop), so the process group is still this one's.
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
            return True
        pid = os.fork()
        if pid == 0:
            _exec(request["argv"], fds[0], fds[1])
        for fd in fds:
            os.close(fd)
        self.running[pid] = request["id"]
        return True

    def reap(self) -> None:
        while self.running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            ident = self.running.pop(pid, None)
            if ident is None:
                continue
            self.sock.send(json.dumps({"id": ident, "status": code if code >= 0 else 128 - code}).encode())

    def kill_all(self) -> None:
        for pid in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def main() -> None:
    """``enter.py PIDFD NICE RLIMITS SOCKFD``: see the module docstring."""
    worker = os.getppid()
    sock = socket.socket(fileno=int(sys.argv[4]))
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last_cap = int(handle.read())
    try:
        limit(int(sys.argv[2]), sys.argv[3])
        enter(int(sys.argv[1]), last_cap)
        # Set only now: a change of uid clears it. The door must not outlive a worker that died meanwhile.
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError as err:
        os.write(2, f"cannot enter the sandbox: {err}\n".encode())
        os._exit(CANNOT_ENTER)
    if os.getppid() != worker:
        os._exit(CANNOT_ENTER)
    Door(sock).serve()
    os._exit(0)


if __name__ == "__main__":
    main()
