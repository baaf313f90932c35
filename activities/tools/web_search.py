"""``web_search``: a pluggable search backend; without one the tool answers with a clear error result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from activities.tools.inputs import ValidationError, WebSearchInput, describe
from activities.tools.outcome import ToolOutcome

MAX_RESULTS = 10


@dataclass(frozen=True)
class SearchResult:
    """One hit."""

    title: str
    url: str
    snippet: str = ""


class SearchBackend(Protocol):
    """A web search service the worker can query (configured by the worker's composition root)."""

    async def search(
        self, query: str, *, allowed_domains: list[str] | None, blocked_domains: list[str] | None, max_results: int
    ) -> list[SearchResult]: ...


def _domain_of(url: str) -> str:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    return host.lower().rstrip(".")


def _matches(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in (d.lower().rstrip(".") for d in domains))


async def run_web_search(backend: SearchBackend | None, raw: dict[str, Any], config: dict[str, Any]) -> ToolOutcome:
    """Search and list the results (domain filters from the tool config are applied again to what comes back)."""
    try:
        args = WebSearchInput.model_validate(raw)
    except ValidationError as err:
        return ToolOutcome.error(describe("web_search", err))
    if backend is None:
        return ToolOutcome.error("web_search is not available: this server has no search backend configured.")
    allowed: list[str] | None = config.get("allowed_domains")
    blocked: list[str] | None = config.get("blocked_domains")
    hits = await backend.search(args.query, allowed_domains=allowed, blocked_domains=blocked, max_results=MAX_RESULTS)
    hits = [
        hit
        for hit in hits
        if (not allowed or _matches(_domain_of(hit.url), allowed))
        and not (blocked and _matches(_domain_of(hit.url), blocked))
    ]
    if not hits:
        return ToolOutcome.of(f"No results for {args.query!r}.")
    lines = [f"{n}. {hit.title}\n   {hit.url}\n   {hit.snippet}".rstrip() for n, hit in enumerate(hits, start=1)]
    return ToolOutcome.of("\n".join(lines))
