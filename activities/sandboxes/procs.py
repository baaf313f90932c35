"""Host-side process-tree surgery for the bwrap backend (blocking /proc reads: call through ``asyncio.to_thread``)."""

from __future__ import annotations

import os
import signal
from contextlib import suppress

MAX_ROUNDS = 50


def parent_of(pid: int) -> int | None:
    """The parent of a live process; None for a process that is gone or a zombie (nothing left to kill)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            raw = stat.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: the fields after the last ')' are reliable.
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 2 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            parent = parent_of(int(name))
            if parent is not None:
                children.setdefault(parent, []).append(int(name))
    return children


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root`` (not ``root`` itself), parents before children."""
    children = _children_map()
    found: list[int] = []
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child in children.get(pid, []):
            found.append(child)
            frontier.append(child)
    return found


def children(pid: int) -> list[int]:
    """The direct children of ``pid``, oldest pid first."""
    return sorted(_children_map().get(pid, []))


def kill_descendants_except(root: int, keep: set[int]) -> int:
    """SIGKILL every descendant of ``root`` not in ``keep``; returns how many were killed.

    Each round first stops every victim (so a fork bomb cannot outrun the killing) and then kills them, until a round
    finds nothing left.
    """
    killed = 0
    for _ in range(MAX_ROUNDS):
        victims = [pid for pid in descendants(root) if pid not in keep]
        if not victims:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in victims:
                with suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
        killed += len(victims)
    return killed
