"""The extra options of the built-in ``web_fetch`` and ``web_search`` tools (API_CONTRACT.md §4.3 a)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from dma.schemas.common import RequestModel, drop_none

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
# web_fetch takes a bare hostname; web_search also accepts a path suffix ("example.com/docs").
FetchDomain = Annotated[str, StringConstraints(pattern=rf"^{_HOST}$", max_length=253)]
SearchDomain = Annotated[str, StringConstraints(pattern=rf"^{_HOST}(?:/[^\s]*)?$", max_length=2048)]
FetchDomains = Annotated[list[FetchDomain], Field(min_length=1, max_length=64)]
SearchDomains = Annotated[list[SearchDomain], Field(min_length=1, max_length=64)]
SERVER_TOOLS = frozenset({"web_search", "web_fetch"})


class ToolReference(RequestModel):
    """One tool named in an ``only`` or ``except`` list."""

    type: Literal["tool_reference"]
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class SourceAllOrNone(RequestModel):
    """The object form of ``"all"`` / ``"none"``."""

    type: Literal["all", "none"]


class SourceToolFilter(RequestModel):
    """Which tools' results may contribute URLs: all, none, only some, or all but some."""

    type: Literal["all", "none", "only", "except"]
    tools: Annotated[list[ToolReference], Field(max_length=128)] | None = None

    @model_validator(mode="after")
    def _tools_match_type(self) -> SourceToolFilter:
        names = [t.name for t in self.tools or []]
        if self.type in ("only", "except") and not names:
            raise ValueError(f"{self.type!r} needs 1-128 tools")
        if self.type in ("all", "none") and self.tools is not None:
            raise ValueError(f"{self.type!r} takes no tools")
        if len(set(names)) != len(names):
            raise ValueError("tools must name each tool once")
        return self

    def normalized(self) -> dict[str, Any]:
        if self.tools is None:
            return {"type": self.type}
        return {"type": self.type, "tools": [t.model_dump() for t in self.tools]}


UserInputSource = Literal["all", "none"] | SourceAllOrNone
ToolResultsSource = Literal["all", "none"] | SourceToolFilter


def _source_form(value: UserInputSource | ToolResultsSource | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, SourceToolFilter):
        return value.normalized()
    return {"type": value.type}


class UrlSources(RequestModel):
    """Where ``web_fetch`` may take URLs from; a source left unset allows every URL."""

    user_input: UserInputSource | None = None
    client_tool_results: ToolResultsSource | None = None
    server_tool_results: ToolResultsSource | None = None

    @model_validator(mode="after")
    def _check(self) -> UrlSources:
        form = self.normalized()
        if len(form) == 3 and all(v["type"] == "none" for v in form.values()):
            raise ValueError("url_sources cannot set all three sources to 'none'")
        for ref in form.get("server_tool_results", {}).get("tools", []):
            if ref["name"] not in SERVER_TOOLS:
                raise ValueError("server_tool_results may only name web_search or web_fetch")
        return self

    def normalized(self) -> dict[str, Any]:
        """Only the sources that were set, each in its object form (a missing source allows every URL)."""
        return drop_none(
            {
                "user_input": _source_form(self.user_input),
                "client_tool_results": _source_form(self.client_tool_results),
                "server_tool_results": _source_form(self.server_tool_results),
            }
        )


class UserLocation(RequestModel):
    """Approximate location used to localize ``web_search`` results."""

    type: Literal["approximate"]
    city: Annotated[str, StringConstraints(max_length=255)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    region: Annotated[str, StringConstraints(max_length=255)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=255)] | None = None


class _DomainRule(RequestModel):
    @model_validator(mode="after")
    def _exclusive_domains(self) -> _DomainRule:
        if getattr(self, "allowed_domains", None) and getattr(self, "blocked_domains", None):
            raise ValueError("allowed_domains and blocked_domains cannot be combined")
        return self


class WebFetchOptions(_DomainRule):
    """Options only ``web_fetch`` takes."""

    allowed_domains: FetchDomains | None = None
    blocked_domains: FetchDomains | None = None
    max_content_tokens: Annotated[int, Field(ge=1)] | None = None
    url_sources: UrlSources | None = None

    def extras(self) -> dict[str, Any]:
        """The options that were set, in response form."""
        sources = self.url_sources.normalized() if self.url_sources else None
        return drop_none(
            {
                "allowed_domains": self.allowed_domains,
                "blocked_domains": self.blocked_domains,
                "max_content_tokens": self.max_content_tokens,
                "url_sources": sources,
            }
        )

    def client_tool_names(self) -> list[str]:
        """Custom tool names that ``url_sources.client_tool_results`` refers to."""
        source = self.url_sources.client_tool_results if self.url_sources else None
        if isinstance(source, SourceToolFilter):
            return [t.name for t in source.tools or []]
        return []


class WebSearchOptions(_DomainRule):
    """Options only ``web_search`` takes."""

    allowed_domains: SearchDomains | None = None
    blocked_domains: SearchDomains | None = None
    user_location: UserLocation | None = None

    def extras(self) -> dict[str, Any]:
        """The options that were set, in response form."""
        location = self.user_location.model_dump(exclude_none=True) if self.user_location else None
        return drop_none(
            {
                "allowed_domains": self.allowed_domains,
                "blocked_domains": self.blocked_domains,
                "user_location": location,
            }
        )
