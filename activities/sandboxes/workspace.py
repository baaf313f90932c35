"""Host-side layout of sandboxes under the data dir, and the per-session host uids of the bwrap backend.

``<data_dir>/sandboxes/<session_id>/workspace`` outlives sandbox restarts; ``<session_id>/uid`` remembers the host uid
the session's files belong to. No sandbox process ever resolves these paths (a root worker binds the workspace before
it drops to the session's uid), so none of their ancestors needs to be traversable by others: the data dir may sit in
a private home directory, and nothing here changes the permissions of a directory it did not create.

All functions block (filesystem): call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

from activities.sandboxes.base import IsolationUnavailable, SandboxError

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DOCKER_SANDBOX_UID = 1000
# Empty on the host. A root worker binds a session's workspace onto it in a private mount namespace, from where bwrap,
# already running as the session's uid, can reach it (see ``bwrap``).
MOUNT_POINT = Path("/run/dma-sandbox")
# The same for the session's mounts directory (``mounts_dir``): its subpaths are what ``Mount`` sources name.
MOUNTS_POINT = Path("/run/dma-sandbox-mounts")
PASSWD = "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nsandbox:x:1000:1000:sandbox:/workspace:/bin/bash\n"
GROUP = "root:x:0:\nsandbox:x:1000:\n"


def check_session_id(session_id: str) -> str:
    """``session_id`` if it is safe in a path and a container name."""
    if not SESSION_ID.match(session_id):
        raise SandboxError(f"invalid session id for a sandbox: {session_id!r}")
    return session_id


def prepare_root(root: Path) -> None:
    """Create ``<data_dir>/sandboxes``, private to the worker's uid."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)


def prepare_mount_point() -> Path:
    """Create ``MOUNT_POINT`` and ``MOUNTS_POINT`` (root only): empty directories of root's every uid may traverse."""
    for point in (MOUNT_POINT, MOUNTS_POINT):
        point.mkdir(mode=0o755, parents=True, exist_ok=True)
        info = point.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise IsolationUnavailable(f"{point} must be a directory owned by root and writable by root alone")
    return MOUNT_POINT


def mounts_dir(session_dir: Path) -> Path:
    """``<session_dir>/mounts``: what the sandbox sees besides its workspace, created root-owned and traversable.

    Read-only mounts stay root's, so the sandbox can change nothing in them; read-write ones (outputs, memory
    stores mounted ``read_write``) belong to the sandbox's uid, and the worker reads them only through
    ``hostfs``, which never follows a link the sandbox may have planted.
    """
    path = session_dir / "mounts"
    path.mkdir(mode=0o755, exist_ok=True)
    return path


def allocate_uid(root: Path, session_dir: Path, base: int, count: int) -> int:
    """The session's host uid: the one it already has, else the lowest free one in ``[base, base + count)``."""
    record = session_dir / "uid"
    if record.exists():
        return int(record.read_text())
    used: set[int] = set()
    for other in root.glob("*/uid"):
        try:
            used.add(int(other.read_text()))
        except (OSError, ValueError):
            continue
    for uid in range(base, base + count):
        if uid not in used:
            record.write_text(str(uid))
            return uid
    raise SandboxError("no free sandbox uid left")


def prepare_workspace(session_dir: Path, owner: int | None) -> Path:
    """Create the session's workspace (kept across restarts), owned by ``owner`` when the worker is root."""
    session_dir.mkdir(mode=0o700, exist_ok=True)
    workspace = session_dir / "workspace"
    workspace.mkdir(exist_ok=True)
    if owner is not None:
        info = workspace.stat()
        if info.st_uid != owner:
            os.chown(workspace, owner, owner)
        workspace.chmod(0o700)
    else:
        # Without root the worker cannot hand the directory to the sandbox's uid; the data dir above stays private.
        workspace.chmod(0o777)
    return workspace


def remove_session(session_dir: Path) -> None:
    """Remove the session's directory: workspace and uid record."""
    shutil.rmtree(session_dir, ignore_errors=True)
