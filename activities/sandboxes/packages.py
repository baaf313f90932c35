"""Environment ``packages`` for the docker backend: baked into a derived image, cached by content hash.

Installing at image-build time keeps package managers (and their root rights and network access) out of the running
sandbox, and a second session with the same package set starts as fast as the first one ends. apt, pip and npm are
supported; cargo, gem and go are refused with a clear message. Blocking: run through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import io
import json
import shlex
from collections.abc import Mapping, Sequence

import docker
from docker.errors import BuildError, DockerException, ImageNotFound

from activities.sandboxes.base import SandboxError

SUPPORTED = ("apt", "pip", "npm")


def wanted(packages: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The non-empty package lists, checked: unsupported managers and option-like names are refused."""
    lists = {manager: list(names) for manager, names in packages.items() if manager != "type" and names}
    unsupported = sorted(set(lists) - set(SUPPORTED))
    if unsupported:
        raise SandboxError(
            f"environment packages for {', '.join(unsupported)} are not supported by this server "
            f"(supported: {', '.join(SUPPORTED)})"
        )
    for names in lists.values():
        for name in names:
            if not name or name.startswith("-") or any(ch.isspace() for ch in name):
                raise SandboxError(f"invalid package name {name!r}")
    return lists


def dockerfile(base: str, lists: Mapping[str, Sequence[str]]) -> str:
    """The Dockerfile of the derived image."""
    apt = list(lists.get("apt", []))
    if lists.get("pip"):
        apt.append("python3-pip")
    if lists.get("npm"):
        apt.append("npm")
    lines = [f"FROM {base}", "USER root"]
    if apt:
        names = " ".join(shlex.quote(name) for name in apt)
        lines.append(
            "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
            f"{names} && rm -rf /var/lib/apt/lists/*"
        )
    if lists.get("pip"):
        names = " ".join(shlex.quote(name) for name in lists["pip"])
        lines.append(f"RUN pip install --no-cache-dir --break-system-packages {names}")
    if lists.get("npm"):
        names = " ".join(shlex.quote(name) for name in lists["npm"])
        lines.append(f"RUN npm install -g {names}")
    lines.append("USER 1000:1000")
    return "\n".join(lines) + "\n"


def image_for(client: docker.DockerClient, base: str, packages: Mapping[str, Sequence[str]]) -> str:
    """The image to run for ``packages``: ``base`` itself when none are wanted, else a cached derived image."""
    lists = wanted(packages)
    if not lists:
        return base
    text = dockerfile(base, lists)
    digest = hashlib.sha256(json.dumps([base, text]).encode()).hexdigest()[:16]
    tag = f"dma-sandbox-pkgs:{digest}"
    try:
        client.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    try:
        client.images.build(fileobj=io.BytesIO(text.encode()), tag=tag, rm=True, forcerm=True, pull=False)
    except BuildError as err:
        tail = "".join(str(entry.get("stream", "")) for entry in list(err.build_log)[-15:])
        raise SandboxError(f"installing the environment's packages failed: {err.msg}\n{tail[-2000:]}") from err
    except DockerException as err:
        raise SandboxError(f"installing the environment's packages failed: {err}") from err
    return tag
