"""File operations of the worker inside directories a sandbox can write (outputs, read-write memory mounts).

The worker is often root and the sandbox owns these directories, so the sandbox could plant a symlink (``todo.md ->
/etc/shadow``) or swap a directory for one between two of the worker's calls. Every operation here walks the path one
component at a time with ``O_NOFOLLOW`` from a directory descriptor, so it never leaves the tree it was given: a
link is skipped when listing and refused when opened. All functions block: call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 32
MAX_ENTRIES = 10_000


class UnsafePath(OSError):
    """The path leaves the tree (a link, ``..``) or is not a regular file."""


@dataclass(frozen=True)
class Entry:
    """A regular file found by ``walk``: its path relative to the root, size and modification time."""

    path: str
    size: int
    mtime_ns: int


def _parts(relative: str) -> list[str]:
    parts = relative.split("/")
    if not relative or any(part in ("", ".", "..") for part in parts):
        raise UnsafePath(f"not a relative path inside the tree: {relative!r}")
    return parts


@contextlib.contextmanager
def _directory(root: Path, parts: list[str], create: bool = False, owner: int | None = None) -> Generator[int]:
    """A descriptor of ``root/parts...`` reached without following links (directories created when asked)."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755 if owner is None else 0o700, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                if owner is not None:
                    os.fchown(child, owner, owner)
                else:
                    os.fchmod(child, 0o777)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def walk(root: Path) -> list[Entry]:
    """Every regular file below ``root`` (links, devices and sockets skipped), at most ``MAX_ENTRIES``."""
    found: list[Entry] = []

    def visit(fd: int, prefix: str, depth: int) -> None:
        with os.scandir(fd) as entries:
            for entry in entries:
                if len(found) >= MAX_ENTRIES:
                    return
                info = entry.stat(follow_symlinks=False)
                path = f"{prefix}{entry.name}"
                if stat.S_ISREG(info.st_mode):
                    found.append(Entry(path, info.st_size, info.st_mtime_ns))
                elif stat.S_ISDIR(info.st_mode) and depth < MAX_DEPTH:
                    try:
                        child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                    except OSError:
                        continue
                    try:
                        visit(child, f"{path}/", depth + 1)
                    finally:
                        os.close(child)

    if root.is_dir():
        with _directory(root, []) as fd:
            visit(fd, "", 0)
    return sorted(found, key=lambda entry: entry.path)


def open_file(root: Path, relative: str) -> int:
    """A read descriptor of a regular file below ``root`` (``UnsafePath`` for a link or anything else)."""
    *parents, name = _parts(relative)
    with _directory(root, parents) as fd:
        try:
            file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=fd)
        except OSError as err:
            raise UnsafePath(f"{relative!r} cannot be opened safely: {err.strerror}") from err
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise UnsafePath(f"{relative!r} is not a regular file")
    return file_fd


def read_file(root: Path, relative: str, limit: int) -> bytes | None:
    """A regular file's bytes, or None when it is larger than ``limit``."""
    fd = open_file(root, relative)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data


def digest_file(root: Path, relative: str) -> tuple[str, int]:
    """SHA-256 and size of a regular file, read in chunks."""
    fd = open_file(root, relative)
    digest, size = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def write_file(root: Path, relative: str, data: bytes, owner: int | None) -> None:
    """Replace a file below ``root`` atomically (a temporary file renamed over it), owned by ``owner``."""
    *parents, name = _parts(relative)
    with _directory(root, parents, create=True, owner=owner) as fd:
        temporary = f".dma-{os.getpid()}-{name}"[:255]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=fd)
        file_fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(file_fd, view) :]
            if owner is not None:
                os.fchown(file_fd, owner, owner)
            else:
                os.fchmod(file_fd, 0o666)
        finally:
            os.close(file_fd)
        os.rename(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)


def remove_file(root: Path, relative: str) -> None:
    """Remove a file below ``root`` (gone already is fine)."""
    *parents, name = _parts(relative)
    try:
        with _directory(root, parents) as fd:
            os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        return


def move_into(source: Path, root: Path, relative: str, owner: int | None) -> bool:
    """Move a worker-owned directory to ``root/relative`` (parents created); False when that already exists."""
    *parents, name = _parts(relative)
    with _directory(root, parents, create=True, owner=owner) as fd:
        try:
            os.stat(name, dir_fd=fd, follow_symlinks=False)
            return False
        except FileNotFoundError:
            pass
        os.rename(source, name, dst_dir_fd=fd)
    return True
