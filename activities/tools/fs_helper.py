"""The file tools' worker half, executed *inside* the sandbox by the sandbox's own ``python3 -I -S``.

It sees only what the sandbox sees, so a symlink or ``..`` can never reach a host path. Standard library only: it runs
on whatever Python 3 the sandbox has. Reads one JSON request on stdin, writes one JSON reply ``{"ok", "text"}``.
"""

from __future__ import annotations

import json
import os
import re
import sys

# Startup time is paid on every file-tool call: typing, glob, shutil and subprocess are imported only where needed.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WORKSPACE = "/workspace"
BINARY_SNIFF = 8192
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv"}


class ToolFailure(Exception):
    """An error the model should see as the tool result."""


def resolve(path: str | None) -> str:
    """Relative paths are relative to the workspace; absolute ones are used as the sandbox sees them."""
    if not path:
        return WORKSPACE
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(WORKSPACE, path))


def op_read(req: dict[str, Any]) -> str:
    """Numbered lines (like ``cat -n``) of a text file, optionally only ``view_range``."""
    path = resolve(req["file_path"])
    limit = int(req["max_bytes"])
    if os.path.isdir(path):
        raise ToolFailure(f"{path} is a directory; use glob or bash ls to list it")
    start, end = 1, -1
    if req.get("view_range") is not None:
        start, end = (int(x) for x in req["view_range"])
        if start < 1 or (end != -1 and end < start):
            raise ToolFailure("view_range must be [start, end] with 1 <= start <= end (end -1 means the last line)")
    with open(path, "rb") as handle:
        if b"\0" in handle.read(BINARY_SNIFF):
            raise ToolFailure(f"{path} looks like a binary file; it cannot be shown as text")
        handle.seek(0)
        out: list[str] = []
        size, count = 0, 0
        for count, raw in enumerate(handle, start=1):
            if count < start:
                continue
            if end != -1 and count > end:
                break
            line = f"{count:6}\t{raw.decode('utf-8', errors='replace').rstrip(chr(10)).rstrip(chr(13))}\n"
            size += len(line)
            if size > limit:
                out.append(f"... [output truncated at {limit} bytes: read the rest with view_range]\n")
                break
            out.append(line)
    if count == 0:
        return "(the file is empty)"
    if start > count:
        raise ToolFailure(f"view_range starts at line {start} but {path} has {count} lines")
    return "".join(out)


def op_write(req: dict[str, Any]) -> str:
    """Create or overwrite a file (and its parent directories)."""
    path = resolve(req["file_path"])
    data = str(req["content"]).encode("utf-8", errors="surrogateescape")
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    existed = os.path.exists(path)
    with open(path, "wb") as handle:
        handle.write(data)
    return f"{'Updated' if existed else 'Created'} {path} ({len(data)} bytes)"


def op_edit(req: dict[str, Any]) -> str:
    """Replace an exact, unique occurrence of ``old_string`` (every one with ``replace_all``)."""
    path = resolve(req["file_path"])
    old, new = str(req["old_string"]), str(req["new_string"])
    if old == "":
        raise ToolFailure("old_string must not be empty")
    if old == new:
        raise ToolFailure("old_string and new_string are the same; nothing to change")
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        text = handle.read()
    found = text.count(old)
    if found == 0:
        raise ToolFailure(f"old_string was not found in {path}")
    if found > 1 and not req.get("replace_all"):
        raise ToolFailure(
            f"old_string occurs {found} times in {path}; give more surrounding context to make it unique, "
            "or set replace_all to replace every occurrence"
        )
    text = text.replace(old, new) if req.get("replace_all") else text.replace(old, new, 1)
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        handle.write(text)
    return f"Replaced {found if req.get('replace_all') else 1} occurrence(s) in {path}"


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def op_glob(req: dict[str, Any]) -> str:
    """Files matching a glob pattern, newest first."""
    base = resolve(req.get("path"))
    limit = int(req["max_results"])
    if not os.path.isdir(base):
        raise ToolFailure(f"{base} is not a directory")
    import glob

    pattern = str(req["pattern"])
    matches = glob.glob(pattern if os.path.isabs(pattern) else os.path.join(glob.escape(base), pattern), recursive=True)
    files = sorted((m for m in matches if os.path.isfile(m)), key=_mtime, reverse=True)
    if not files:
        return "No files found"
    shown = files[:limit]
    note = f"\n... [{len(files) - limit} more not shown: narrow the pattern]" if len(files) > limit else ""
    return "\n".join(shown) + note


def _grep_rg(pattern: str, base: str, limit: int) -> str:
    import subprocess

    argv = ["rg", "--line-number", "--no-heading", "--color=never", "--max-columns=500", "--max-columns-preview"]
    proc = subprocess.Popen([*argv, "-e", pattern, "--", base], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    data = proc.stdout.read(limit + 1)
    if len(data) > limit:
        proc.kill()
        proc.wait()
        return data[:limit].decode("utf-8", errors="replace") + f"\n... [output truncated at {limit} bytes]"
    err = proc.stderr.read(4096).decode("utf-8", errors="replace")
    code = proc.wait()
    if code == 1:
        return "No matches found"
    if code != 0:
        raise ToolFailure(f"grep failed: {err.strip()}")
    return data.decode("utf-8", errors="replace").rstrip("\n")


def _grep_python(pattern: str, base: str, limit: int) -> str:
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise ToolFailure(f"invalid regular expression: {err}") from None
    files = [base] if os.path.isfile(base) else _walk(base)
    out: list[str] = []
    size = 0
    for path in files:
        try:
            with open(path, "rb") as handle:
                if b"\0" in handle.read(BINARY_SNIFF):
                    continue
                handle.seek(0)
                for number, raw in enumerate(handle, start=1):
                    line = raw.decode("utf-8", errors="replace").rstrip("\n")
                    if regex.search(line):
                        entry = f"{path}:{number}:{line[:500]}"
                        size += len(entry) + 1
                        if size > limit:
                            return "\n".join(out) + f"\n... [output truncated at {limit} bytes]"
                        out.append(entry)
        except OSError:
            continue
    return "\n".join(out) if out else "No matches found"


def _walk(base: str) -> list[str]:
    found: list[str] = []
    for root, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found.extend(os.path.join(root, name) for name in sorted(names))
    return found


def op_grep(req: dict[str, Any]) -> str:
    """Lines matching a regular expression: ripgrep when the sandbox has it, else Python."""
    base = resolve(req.get("path"))
    if not os.path.exists(base):
        raise ToolFailure(f"{base} does not exist")
    pattern, limit = str(req["pattern"]), int(req["max_bytes"])
    import shutil

    if req.get("engine") != "python" and shutil.which("rg"):
        return _grep_rg(pattern, base, limit)
    return _grep_python(pattern, base, limit)


OPS = {"read": op_read, "write": op_write, "edit": op_edit, "glob": op_glob, "grep": op_grep}


def main() -> None:
    """Answer one JSON request from stdin."""
    req = json.loads(sys.stdin.buffer.read())
    try:
        reply = {"ok": True, "text": OPS[req["op"]](req)}
    except ToolFailure as err:
        reply = {"ok": False, "text": str(err)}
    except FileNotFoundError as err:
        reply = {"ok": False, "text": f"{err.filename or 'the path'} does not exist"}
    except (PermissionError, IsADirectoryError, NotADirectoryError, OSError) as err:
        reply = {"ok": False, "text": f"{err.filename or 'the path'}: {err.strerror or err}"}
    sys.stdout.write(json.dumps(reply))


if __name__ == "__main__":
    main()
