"""A git repository host on loopback for clone tests: git's dumb HTTP protocol over a static directory, behind a
token check (``Authorization: Basic base64(x-access-token:<token>)``, as GitHub takes it)."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t"}
GIT_ENV |= {"GIT_COMMITTER_EMAIL": "t@example.com", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


class GitServer:
    """Serves ``<root>/<owner>/<repo>.git`` bare repositories; every request needs one of ``tokens``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tokens: set[str] = set()
        self.seen_authorization: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
                header = self.headers.get("authorization", "")
                server.seen_authorization.append(header)
                allowed = {"Basic " + base64.b64encode(f"x-access-token:{t}".encode()).decode() for t in server.tokens}
                if header not in allowed:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.end_headers()
                    return
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> GitServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def create(self, owner: str, name: str, work: Path) -> dict[str, str]:
        """A repository with two commits on ``main`` and a ``feature`` branch; the commit ids by name."""
        work.mkdir(parents=True)
        git("init", "--quiet", "-b", "main", cwd=work)
        (work / "VERSION").write_text("one\n")
        git("add", ".", cwd=work)
        git("commit", "--quiet", "-m", "one", cwd=work)
        first = git("rev-parse", "HEAD", cwd=work)
        (work / "VERSION").write_text("two\n")
        git("commit", "--quiet", "-am", "two", cwd=work)
        second = git("rev-parse", "HEAD", cwd=work)
        git("checkout", "--quiet", "-b", "feature", cwd=work)
        (work / "FEATURE").write_text("feature\n")
        git("add", ".", cwd=work)
        git("commit", "--quiet", "-m", "feature", cwd=work)
        feature = git("rev-parse", "HEAD", cwd=work)
        git("checkout", "--quiet", "main", cwd=work)
        bare = self.root / owner / f"{name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "--quiet", "--bare", str(work), str(bare))
        git("update-server-info", cwd=bare)
        # GitHub answers with and without the .git suffix.
        (bare.parent / name).symlink_to(bare.name)
        return {"first": first, "second": second, "feature": feature}
