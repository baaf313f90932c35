"""What the model is told about the built-in toolset ``agent_toolset_20260401`` (inputs per API_CONTRACT.md §3.8)."""

from __future__ import annotations

from typing import Any

TOOLSET_TYPE = "agent_toolset_20260401"
BUILTIN_TOOLS: dict[str, dict[str, Any]] = {
    "bash": {
        "description": "Run a shell command in the session's persistent bash shell (cwd and environment persist).",
        "input_schema": {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The command to run."},
                "restart": {"type": "boolean", "description": "Restart the shell instead of running a command."},
                "timeout_ms": {"type": "integer", "description": "Wall-clock limit for the command."},
            },
        },
    },
    "read": {
        "description": "Read a file with line numbers; view_range [start, end] limits the lines (1-based, inclusive).",
        "input_schema": {
            "type": "object",
            "properties": {
                "file_path": {"type": "string"},
                "view_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
            },
            "required": ["file_path"],
        },
    },
    "write": {
        "description": "Create or overwrite a file with the given content.",
        "input_schema": {
            "type": "object",
            "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["file_path", "content"],
        },
    },
    "edit": {
        "description": (
            "Replace an exact, unique occurrence of old_string with new_string (all of them with replace_all)."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "file_path": {"type": "string"},
                "old_string": {"type": "string"},
                "new_string": {"type": "string"},
                "replace_all": {"type": "boolean"},
            },
            "required": ["file_path", "old_string", "new_string"],
        },
    },
    "glob": {
        "description": "List files matching a glob pattern, optionally below a path.",
        "input_schema": {
            "type": "object",
            "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}},
            "required": ["pattern"],
        },
    },
    "grep": {
        "description": "Search file contents for a regular expression, optionally below a path.",
        "input_schema": {
            "type": "object",
            "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}},
            "required": ["pattern"],
        },
    },
    "web_fetch": {
        "description": "Fetch an http(s) URL and return its content as readable text.",
        "input_schema": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
    },
    "web_search": {
        "description": "Search the web and return the top results.",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


def enabled_builtin_tools(toolset: dict[str, Any]) -> list[str]:
    """Names of the toolset's enabled tools: a ``configs`` entry wins over ``default_config``."""
    default_enabled = bool(toolset.get("default_config", {}).get("enabled", True))
    overrides = {entry.get("name"): bool(entry.get("enabled", default_enabled)) for entry in toolset.get("configs", [])}
    return [name for name in BUILTIN_TOOLS if overrides.get(name, default_enabled)]


def builtin_tool_config(tools: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The effective config of built-in tool ``name`` in an agent's ``tools``, or None when it is not enabled.

    The config is the tool's ``configs`` entry (with its extras, e.g. web_fetch ``allowed_domains``), or ``{}`` when
    the tool is enabled only through ``default_config``.
    """
    if name not in BUILTIN_TOOLS:
        return None
    for toolset in tools:
        if toolset.get("type") != TOOLSET_TYPE or name not in enabled_builtin_tools(toolset):
            continue
        entries: list[dict[str, Any]] = toolset.get("configs") or []
        found = next((entry for entry in entries if entry.get("name") == name), None)
        return dict(found) if found is not None else {}
    return None
