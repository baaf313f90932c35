"""Clones ``github_repository`` resources on the worker, so the token never enters the sandbox.

The token travels to ``git`` as an ``http.extraHeader`` in ``GIT_CONFIG_*`` environment variables of the git process
only (never in a URL, an argv, a config file or a log line), and the clone's ``origin`` is the resource's URL without
credentials. The clone happens in a worker-owned directory, is handed to the sandbox's uid, then moved into place.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from activities.sandboxes import hostfs

CLONE_TIMEOUT = 600.0
GIT_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "GIT_TERMINAL_PROMPT": "0"}


class CloneFailed(Exception):
    """The repository could not be cloned or checked out (the message never holds the token)."""


@dataclass(frozen=True)
class Repository:
    """What to clone: the resource's URL, its checkout and token."""

    url: str
    checkout: dict[str, Any] | None
    token: str | None


def clone_url(base_url: str, url: str) -> str:
    """The URL git fetches from: the resource URL's path below the configured base (a mirror, a test server)."""
    return base_url.rstrip("/") + urlsplit(url).path


def _env(token: str | None, home: str) -> dict[str, str]:
    env = {**GIT_ENV, "HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env |= {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader"}
        env["GIT_CONFIG_VALUE_0"] = f"Authorization: Basic {basic}"
    return env


async def _git(args: list[str], env: dict[str, str], token: str | None) -> None:
    proc = await asyncio.create_subprocess_exec(
        "git", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), CLONE_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        text = output.decode("utf-8", errors="replace").strip()[-500:]
        if token:
            text = text.replace(token, "***")
        raise CloneFailed(f"git {args[0]} failed: {text}")


def _chown_tree(root: Path, owner: int | None) -> None:
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = os.path.join(directory, name)
            if owner is not None:
                os.lchown(path, owner, owner)
        if owner is not None:
            os.lchown(directory, owner, owner)
        else:
            os.chmod(directory, 0o777)


async def clone(
    repository: Repository, base_url: str, scratch: Path, destination: Path, relative: str, owner: int | None
) -> bool:
    """Clone into ``destination/relative`` (False when something is there already: a restored workspace).

    Raises:
        CloneFailed: git could not fetch or check out what was asked.
    """
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="clone-", dir=scratch))
    try:
        target = work / "repo"
        env = _env(repository.token, str(work))
        checkout = repository.checkout or {}
        args = ["clone", "--quiet", "--no-checkout", "--", clone_url(base_url, repository.url), str(target)]
        await _git(args, env, repository.token)
        if checkout.get("type") == "commit":
            await _git(["-C", str(target), "checkout", "--quiet", "--detach", str(checkout["sha"])], env, None)
        elif checkout.get("type") == "branch":
            name = str(checkout["name"])
            await _git(["-C", str(target), "checkout", "--quiet", "-B", name, f"origin/{name}"], env, None)
        else:
            await _git(["-C", str(target), "reset", "--quiet", "--hard", "HEAD"], env, None)
        await _git(["-C", str(target), "remote", "set-url", "origin", repository.url], env, None)
        config = await asyncio.to_thread((target / ".git" / "config").read_text)
        if repository.token and repository.token in config:
            raise CloneFailed("the clone's git config holds the token; refusing to hand it to the sandbox")
        await asyncio.to_thread(_chown_tree, target, owner)
        return await asyncio.to_thread(hostfs.move_into, target, destination, relative, owner)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
