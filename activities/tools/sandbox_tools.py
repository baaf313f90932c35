"""The tools that run inside the session's sandbox: ``bash`` and the file tools (read, write, edit, glob, grep)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from activities.sandboxes.base import ExecResult, Sandbox, SandboxLimits
from activities.tools.inputs import (
    BashInput,
    EditInput,
    GlobInput,
    GrepInput,
    ReadInput,
    ValidationError,
    WriteInput,
    describe,
)
from activities.tools.outcome import ToolOutcome

FS_HELPER_SOURCE = (Path(__file__).parent / "fs_helper.py").read_text()
FILE_TOOL_TIMEOUT_SECONDS = 60.0
GLOB_MAX_RESULTS = 1000
SANDBOX_FILE_TOOLS = ("read", "write", "edit", "glob", "grep")
SANDBOX_TOOLS = ("bash", *SANDBOX_FILE_TOOLS)


def _bash_text(result: ExecResult, timeout: float) -> ToolOutcome:
    parts = [result.text()]
    if result.truncated:
        parts.append(f"\n[output truncated: the command wrote {result.total_bytes} bytes; the first "
                     f"{len(result.output)} were kept]")  # fmt: skip
    if result.timed_out:
        parts.append(f"\n[the command timed out after {timeout:g} s and was killed]")
    if result.shell_lost:
        parts.append("\n[the shell was restarted: working directory and environment variables were reset]")
    elif result.exit_code not in (0, None):
        parts.append(f"\n[exit code: {result.exit_code}]")
    text = "".join(parts).strip("\n") or "(no output)"
    failed = result.timed_out or result.shell_lost or result.exit_code != 0
    return ToolOutcome.of(text, is_error=failed)


async def run_bash(sandbox: Sandbox, limits: SandboxLimits, raw: dict[str, Any]) -> ToolOutcome:
    """Run a command in the persistent shell, or restart the shell."""
    try:
        args = BashInput.model_validate(raw)
    except ValidationError as err:
        return ToolOutcome.error(describe("bash", err))
    if args.restart:
        await sandbox.restart_shell()
        return ToolOutcome.of("The shell was restarted.")
    if not args.command or not args.command.strip():
        return ToolOutcome.error("Invalid input for bash: give a command (or restart: true)")
    timeout = limits.clamp_timeout(args.timeout_ms / 1000 if args.timeout_ms else None)
    return _bash_text(await sandbox.exec_shell(args.command, timeout), timeout)


def _request(name: str, raw: dict[str, Any], limits: SandboxLimits) -> dict[str, Any] | str:
    """The helper request for a file tool, or a message about bad input."""
    try:
        if name == "read":
            args: Any = ReadInput.model_validate(raw)
        elif name == "write":
            args = WriteInput.model_validate(raw)
        elif name == "edit":
            args = EditInput.model_validate(raw)
        elif name == "glob":
            args = GlobInput.model_validate(raw)
        else:
            args = GrepInput.model_validate(raw)
    except ValidationError as err:
        return describe(name, err)
    request: dict[str, Any] = args.model_dump()
    request.update(op=name, max_bytes=limits.output_bytes, max_results=GLOB_MAX_RESULTS, engine="auto")
    return request


async def run_file_tool(
    sandbox: Sandbox, limits: SandboxLimits, name: str, raw: dict[str, Any], engine: str = "auto"
) -> ToolOutcome:
    """Run one of the file tools with the sandbox's own Python, so paths resolve as the sandbox sees them."""
    request = _request(name, raw, limits)
    if isinstance(request, str):
        return ToolOutcome.error(request)
    request["engine"] = engine
    argv = ["python3", "-I", "-S", "-c", FS_HELPER_SOURCE]
    result = await sandbox.run(argv, json.dumps(request).encode(), FILE_TOOL_TIMEOUT_SECONDS)
    if result.timed_out:
        return ToolOutcome.error(f"{name} timed out after {FILE_TOOL_TIMEOUT_SECONDS:g} s")
    try:
        reply = json.loads(result.output)
    except ValueError:
        reply = None
    if result.exit_code != 0 or not isinstance(reply, dict):
        detail = result.text()[-2000:].strip() or f"exit status {result.exit_code}"
        return ToolOutcome.error(f"{name} failed inside the sandbox: {detail}")
    answer: dict[str, Any] = reply  # pyright: ignore[reportUnknownVariableType] - JSON object from the helper
    return ToolOutcome.of(str(answer.get("text", "")), is_error=not answer.get("ok", False))
