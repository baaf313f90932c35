"""What the test internet serves: a wheel in a simple index, and a git repository over dumb HTTP."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import zipfile
from pathlib import Path

PACKAGE = "dmatestpkg"
OTHER_PACKAGE = "dmaotherpkg"
VERSION = "1.0"
GIT_MARKER = "hello from the test repository"


def build_wheel(directory: Path, name: str = PACKAGE, version: str = VERSION) -> Path:
    """A minimal pure-Python wheel whose module says its name."""
    files = {
        f"{name}/__init__.py": f"MESSAGE = 'installed {name} {version}'\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: dma-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record_path = f"{name}-{version}.dist-info/RECORD"
    files[record_path] = "\n".join([*record, f"{record_path},,"]) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def build_git_repo(directory: Path) -> Path:
    """A bare repository ``demo.git`` with one commit, prepared for git's dumb HTTP protocol."""
    work = directory / "demo-work"
    bare = directory / "demo.git"
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env |= {"PATH": "/usr/bin:/bin", "HOME": str(directory)}

    def git(*args: str, cwd: Path = directory) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main", str(work))
    (work / "README").write_text(GIT_MARKER + "\n")
    git("add", "README", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("clone", "-q", "--bare", str(work), str(bare))
    git("update-server-info", cwd=bare)
    return bare
