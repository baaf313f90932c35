"""Environment ``packages`` on the bwrap backend: installed into the workspace at first use, cached per package set.

bwrap sandboxes see the host's read-only ``/usr``, so nothing can be installed system-wide: pip and npm packages go
into ``/workspace/.dma-packages`` (``python/`` on ``PYTHONPATH``, ``node/`` on ``NODE_PATH``, both ``bin/`` dirs on
``PATH``), installed by the host's own pip and npm running inside the session's sandbox, through its egress proxy and
under its network policy. The first sandbox with a given package set installs it; the worker then keeps a copy under
``<data_dir>/package-cache/<key>`` and later sandboxes with the same set get that copy, without any network. apt
packages need the docker backend. The installers run before any command of the session, from a clean directory, and
ignore user configuration in the workspace (``$HOME`` is ``/workspace``), so a workspace cannot steer what is cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from activities.sandboxes.base import Sandbox, SandboxError
from activities.sandboxes.egress import SandboxNetwork

INSIDE = "/workspace/.dma-packages"
DIRECTORY = ".dma-packages"
KEY_FILE = ".key"
INSTALL_TIMEOUT_SECONDS = 240.0
BWRAP_MANAGERS = ("pip", "npm")
ENV = {
    "PYTHONPATH": f"{INSIDE}/python",
    "NODE_PATH": f"{INSIDE}/node/lib/node_modules",
}


def sandbox_env(path: str) -> dict[str, str]:
    """The variables that make installed packages visible (``path``: the sandbox's usual ``PATH``)."""
    return {**ENV, "PATH": f"{INSIDE}/python/bin:{INSIDE}/node/bin:{path}"}


def check(lists: Mapping[str, Sequence[str]]) -> None:
    """Refuse package managers the bwrap backend cannot serve."""
    others = sorted(set(lists) - set(BWRAP_MANAGERS))
    if others:
        raise SandboxError(
            f"environment packages for {', '.join(others)} need the docker sandbox backend (bwrap sandboxes share the "
            "host's read-only /usr); pip and npm packages work on both"
        )


def cache_key(lists: Mapping[str, Sequence[str]], mirrors: Mapping[str, str]) -> str:
    """What identifies an installed tree: the package lists, where they come from and the Python they are for."""
    identity = [sorted((k, list(v)) for k, v in lists.items()), sorted(mirrors.items()), sys.version_info[:2]]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]


def _installers(lists: Mapping[str, Sequence[str]], mirrors: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    commands: list[tuple[str, list[str]]] = []
    proxy = "http://127.0.0.1:3128"
    if lists.get("pip"):
        pip = ["python3", "-m", "pip", "install", "--isolated", "--no-cache-dir", "--disable-pip-version-check"]
        pip += ["--no-input", "--proxy", proxy, "--target", f"{INSIDE}/python"]
        if "PIP_INDEX_URL" in mirrors:
            pip += ["--index-url", mirrors["PIP_INDEX_URL"]]
        if "PIP_TRUSTED_HOST" in mirrors:
            pip += ["--trusted-host", mirrors["PIP_TRUSTED_HOST"]]
        commands.append(("pip", [*pip, *lists["pip"]]))
    if lists.get("npm"):
        npm = ["npm", "install", "--global", "--prefix", f"{INSIDE}/node", "--no-audit", "--no-fund", "--userconfig"]
        npm += ["/dev/null"]
        if "npm_config_registry" in mirrors:
            npm += ["--registry", mirrors["npm_config_registry"]]
        commands.append(("npm", [*npm, *lists["npm"]]))
    return commands


class PackageCache:
    """The installed package trees of this worker's bwrap sandboxes, one per package set."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._locks: dict[str, asyncio.Lock] = {}

    async def provide(
        self,
        sandbox: Sandbox,
        workspace: Path,
        owner: int | None,
        lists: Mapping[str, Sequence[str]],
        network: SandboxNetwork,
    ) -> None:
        """Make ``lists`` installed in ``workspace`` (a started sandbox's), from the cache or by installing them."""
        mirrors = network.mirrors_env
        key = cache_key(lists, mirrors)
        target = workspace / DIRECTORY
        if await asyncio.to_thread(_read_key, target) == key:
            return
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._root / key
            if not await asyncio.to_thread(cached.is_dir):
                await asyncio.to_thread(_reset, target, owner)
                await self._install(sandbox, lists, network)
                await asyncio.to_thread(_store, target, cached)
            await asyncio.to_thread(_restore, cached, target, owner, key)

    async def _install(self, sandbox: Sandbox, lists: Mapping[str, Sequence[str]], network: SandboxNetwork) -> None:
        for manager, argv in _installers(lists, network.mirrors_env):
            network.proxy.refusals.clear()
            result = await sandbox.run(argv, None, INSTALL_TIMEOUT_SECONDS)
            if result.exit_code != 0:
                what = "timed out" if result.timed_out else f"failed (exit status {result.exit_code})"
                refused = "".join(f"\n  {line}" for line in network.proxy.refusals)
                policy = f"\nThe sandbox's network policy refused:{refused}" if refused else ""
                output = result.text()[-2000:]
                raise SandboxError(f"installing the environment's {manager} packages {what}:{policy}\n{output}")


def _read_key(target: Path) -> str | None:
    try:
        return (target / KEY_FILE).read_text().strip()
    except OSError:
        return None


def _reset(target: Path, owner: int | None) -> None:
    """An empty package directory owned by the sandbox (whatever the workspace held there is gone)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    if owner is not None:
        os.chown(target, owner, owner)
    else:
        target.chmod(0o777)


def _store(target: Path, cached: Path) -> None:
    """Copy a fresh install into the cache, appearing there whole or not at all."""
    cached.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = cached.with_name(f"{cached.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(target, partial, symlinks=True)
    partial.rename(cached)


def _restore(cached: Path, target: Path, owner: int | None, key: str) -> None:
    """Put a copy of the cached tree into the workspace, owned by the sandbox's uid, and record its key."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(cached, target, symlinks=True)
    (target / KEY_FILE).write_text(key)
    if owner is not None:
        for directory, dirs, files in os.walk(target):
            os.lchown(directory, owner, owner)
            for name in [*dirs, *files]:
                os.lchown(os.path.join(directory, name), owner, owner)
