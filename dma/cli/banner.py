"""What ``dma dev`` prints once everything listens: where each part is, where each log is, and how to look inside."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

# A Temporal Web UI list filter: sessions that wait for a message or for people (their workflows still "Run").
IDLE_QUERY = 'ExecutionStatus="Running" AND SessionStatus="idle"'
WORKING_QUERY = 'SessionStatus="running"'


@dataclass(frozen=True)
class DevInfo:
    """Everything the banner names."""

    api_url: str
    key: str
    key_file: Path
    temporal_address: str
    temporal_ui_url: str
    temporal_cli: str
    dma_cli: str
    examples_dir: str | None
    data_dir: Path
    keyless: bool


def workflows_url(ui_url: str, query: str, namespace: str = "default") -> str:
    """A Temporal Web UI list of workflows filtered by ``query``."""
    return f"{ui_url}/namespaces/{namespace}/workflows?query={quote(query)}"


def _short(path: str) -> str:
    """A path relative to the working directory when it lies below it (what a person would type)."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path


def banner(info: DevInfo) -> str:
    """The lines ``dma dev`` prints when it is ready."""
    cli = f"{_short(info.temporal_cli)} --address {info.temporal_address}"
    lines = [
        "",
        "dma dev is running",
        f"  API            {info.api_url}",
        f"  Console        {info.api_url}/console/",
        f"  API key        {info.key}   (kept in {_short(str(info.key_file))}; the dma CLI reads it from there)",
    ]
    if info.temporal_ui_url:
        lines += [
            f"  Temporal UI    {info.temporal_ui_url}",
            f"    idle sessions (their workflows show as Running): {workflows_url(info.temporal_ui_url, IDLE_QUERY)}",
        ]
    else:
        lines.append("  Temporal UI    (headless)")
    lines += [
        f"  Temporal       {info.temporal_address}",
        f"    its CLI: {cli} workflow list --query {shlex.quote(WORKING_QUERY)}",
        f"  Data dir       {info.data_dir}   (dma.db, temporal.db)",
        "  Logs           here: warnings and one line per session turn (DMA_LOG_LEVEL=INFO or DEBUG for more)",
        f"                 Temporal server: {info.data_dir / 'temporal.log'}",
    ]
    if info.examples_dir is not None:
        dma = _short(info.dma_cli)
        lines.append(f"  Try it         {dma} agents apply -f {_short(info.examples_dir)} && {dma} chat demo")
    lines += [
        '                 (model "scripted" answers offline, with no provider key)',
        "  Ctrl-C stops everything.",
        "",
    ]
    if info.keyless:
        lines.insert(-2, "  WARNING: keyless mode: any local process can use this API without a key")
    return "\n".join(lines)
