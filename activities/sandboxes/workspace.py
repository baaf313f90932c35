"""Host-side layout of sandboxes under the data dir, and the per-session host uids of the bwrap backend.

``<data_dir>/sandboxes/<session_id>/workspace`` outlives sandbox restarts; ``<session_id>/uid`` remembers the host uid
the session's files belong to. All functions block (filesystem): call them through ``asyncio.to_thread``.
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
PASSWD = "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nsandbox:x:1000:1000:sandbox:/workspace:/bin/bash\n"
GROUP = "root:x:0:\nsandbox:x:1000:\n"


def check_session_id(session_id: str) -> str:
    """``session_id`` if it is safe in a path and a container name."""
    if not SESSION_ID.match(session_id):
        raise SandboxError(f"invalid session id for a sandbox: {session_id!r}")
    return session_id


def _traversable(directory: Path) -> None:
    # 0711: other uids may pass through (to reach their own workspace) but not list the sessions.
    mode = directory.stat().st_mode
    if not mode & stat.S_IXOTH:
        directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def prepare_root(root: Path) -> Path:
    """Create ``<data_dir>/sandboxes`` and the shared ``passwd``/``group`` the bwrap sandboxes see."""
    root.mkdir(parents=True, exist_ok=True)
    _traversable(root.parent)
    _traversable(root)
    etc = root / ".etc"
    etc.mkdir(exist_ok=True)
    etc.chmod(0o755)
    for name, text in (("passwd", PASSWD), ("group", GROUP)):
        path = etc / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        path.chmod(0o644)
    return etc


def check_reachable(path: Path, uid: int) -> None:
    """Fail clearly when ``uid`` cannot traverse the ancestors of ``path`` (bwrap opens it as that uid)."""
    for ancestor in path.resolve().parents:
        info = ancestor.stat()
        if info.st_uid != uid and not info.st_mode & stat.S_IXOTH:
            raise IsolationUnavailable(
                f"the sandbox uid {uid} cannot reach {path}: {ancestor} has no execute permission for others "
                f"(chmod o+x {ancestor}, or move the data dir)"
            )


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
    session_dir.mkdir(exist_ok=True)
    _traversable(session_dir)
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
