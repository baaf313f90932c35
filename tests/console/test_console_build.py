"""The committed console build (api/console_static) matches its sources and loads nothing from the network."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "api" / "console_static"


def test_the_build_is_of_the_current_sources() -> None:
    current = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "console-source-hash")], capture_output=True, text=True, check=True
    ).stdout.strip()
    built = (BUILD / "SOURCE_SHA256").read_text().strip()
    assert built == current, "console/ changed since the last build: run scripts/build-console and commit the result"


def test_the_build_is_self_contained() -> None:
    index = (BUILD / "index.html").read_text()
    referenced = re.findall(r'(?:src|href)="/console/([^"]+)"', index)
    assert referenced and all((BUILD / name).is_file() for name in referenced)
    for path in [BUILD / "index.html", *BUILD.glob("assets/*.css"), *BUILD.glob("assets/*.js")]:
        text = path.read_text()
        assert not re.search(r"""(?:src=|href=|url\(|import\(|from )["']?https?://""", text), path.name


def test_the_build_ships_in_the_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"console_static/*", "console_static/assets/*"' in pyproject
