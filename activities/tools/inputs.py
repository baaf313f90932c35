"""Validated ``agent.tool_use.input`` shapes of the built-in tools (API_CONTRACT.md §3.8)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "BashInput",
    "EditInput",
    "GlobInput",
    "GrepInput",
    "ReadInput",
    "ValidationError",
    "WebFetchInput",
    "WebSearchInput",
    "WriteInput",
    "describe",
]

Path = Annotated[str, Field(min_length=1, max_length=4096)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore")


class BashInput(_Input):
    """``bash``: run ``command``, or ``restart`` the shell; ``timeout_ms`` bounds the wall time."""

    command: str | None = None
    restart: bool = False
    timeout_ms: int | None = Field(default=None, ge=1)


class ReadInput(_Input):
    """``read``: a file, optionally only lines ``view_range`` = [start, end] (end -1: to the end)."""

    file_path: Path
    view_range: Annotated[list[int], Field(min_length=2, max_length=2)] | None = None


class WriteInput(_Input):
    """``write``: create or overwrite a file."""

    file_path: Path
    content: str


class EditInput(_Input):
    """``edit``: replace an exact, unique ``old_string`` (all of them with ``replace_all``)."""

    file_path: Path
    old_string: str
    new_string: str
    replace_all: bool = False


class GlobInput(_Input):
    """``glob``: files matching ``pattern`` below ``path``."""

    pattern: Annotated[str, Field(min_length=1)]
    path: str | None = None


class GrepInput(_Input):
    """``grep``: lines matching the regular expression ``pattern`` below ``path``."""

    pattern: Annotated[str, Field(min_length=1)]
    path: str | None = None


class WebFetchInput(_Input):
    """``web_fetch``: an http(s) URL."""

    url: Annotated[str, Field(min_length=1, max_length=8192)]


class WebSearchInput(_Input):
    """``web_search``: a query."""

    query: Annotated[str, Field(min_length=1, max_length=2000)]


def describe(tool: str, err: ValidationError) -> str:
    """A short message telling the model what was wrong with its input."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or 'input'}: {issue['msg']}" for issue in err.errors()
    )
    return f"Invalid input for {tool}: {problems}"
