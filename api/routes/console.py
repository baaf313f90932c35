"""The web console: static files at ``/console`` (no key needed; the app asks for one) and its server facts.

The console is a single-page app built from ``console/`` into ``api/console_static/`` (shipped in the package, so it
works offline). It calls the public API with the key a person enters, like any client; the static files hold no
secret. Paths without a file are client-side routes and get ``index.html``; hashed assets are cached for good.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel

from api.deps import SettingsDep
from dma import __version__

STATIC = Path(__file__).resolve().parent.parent / "console_static"
# Same-origin only: the console loads nothing from elsewhere and may be framed by no one.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
IMMUTABLE = "public, max-age=31536000, immutable"

pages = APIRouter(tags=["console"], include_in_schema=False)
info = APIRouter(prefix="/v1/dma", tags=["dma: server"])


class ServerInfo(BaseModel):
    """What the console needs to know about this server (a dma extension)."""

    type: str = "server_info"
    version: str
    temporal_ui_url: str | None
    temporal_namespace: str


@info.get("/info", response_model=ServerInfo)
async def server_info(settings: SettingsDep) -> ServerInfo:
    """Facts about this server: its version and where its Temporal Web UI is (for links to session workflows)."""
    return ServerInfo(
        version=__version__,
        temporal_ui_url=settings.temporal_ui_url.rstrip("/") or None,
        temporal_namespace=settings.temporal_namespace,
    )


@pages.get("/console")
async def console_root() -> RedirectResponse:
    """The console lives under ``/console/`` (its assets are relative to it)."""
    return RedirectResponse("/console/", status_code=308)


@pages.get("/console/{path:path}")
async def console_file(path: str) -> Response:
    """A file of the built console, or ``index.html`` for a client-side route."""
    index = STATIC / "index.html"
    if not index.is_file():
        return Response("the console is not built: run scripts/build-console\n", status_code=404)
    if path and _is_file(STATIC / path):
        target = (STATIC / path).resolve()
        cache = IMMUTABLE if target.parent.name == "assets" else "no-cache"
        return FileResponse(target, headers={**SECURITY_HEADERS, "cache-control": cache})
    if path.startswith("assets/"):
        return Response("not found\n", status_code=404, headers=SECURITY_HEADERS)
    return FileResponse(index, headers={**SECURITY_HEADERS, "cache-control": "no-cache"})


def _is_file(candidate: Path) -> bool:
    """Whether ``candidate`` is a file inside the build (never outside it; odd names such as NUL are no file)."""
    try:
        resolved = candidate.resolve()
        return resolved.is_relative_to(STATIC) and resolved.is_file()
    except (OSError, ValueError):
        return False
