"""The OAuth refresh-token grant (RFC 6749 §6) against a credential's token endpoint, on the worker.

Client authentication follows the credential: ``none`` (``client_id`` in the form), ``client_secret_basic`` (HTTP
Basic) or ``client_secret_post`` (``client_id`` and ``client_secret`` in the form). Error bodies are kept for the
validation probe, truncated and with every secret of the credential blanked out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2

from workflows.contracts import HttpCapture

TIMEOUT_SECONDS = 15.0
CAPTURE_CHARS = 2048


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint issued (``refresh_token`` None: keep the old one)."""

    access_token: str
    refresh_token: str | None
    expires_in: float | None


class RefreshFailed(Exception):
    """The token endpoint refused the refresh or answered nonsense."""

    def __init__(self, message: str, capture: HttpCapture | None = None) -> None:
        super().__init__(message)
        self.capture = capture


class RefreshUnreachable(Exception):
    """The token endpoint could not be reached."""


def scrub(text: str, secrets: dict[str, str]) -> str:
    """``text`` with every secret value blanked out."""
    for value in sorted(secrets.values(), key=len, reverse=True):
        if value:
            text = text.replace(value, "[redacted]")
    return text


def capture(response: httpx2.Response, secrets: dict[str, str]) -> HttpCapture:
    """An HTTP response as a probe reports it: scrubbed, truncated."""
    body = scrub(response.text, secrets)
    return HttpCapture(
        status_code=response.status_code,
        content_type=response.headers.get("content-type", ""),
        body=body[:CAPTURE_CHARS],
        body_truncated=len(body) > CAPTURE_CHARS,
    )


def _request(refresh: dict[str, Any], secrets: dict[str, str]) -> tuple[dict[str, str], httpx2.BasicAuth | None]:
    form = {"grant_type": "refresh_token", "refresh_token": secrets.get("refresh_token", "")}
    for key in ("scope", "resource"):
        if refresh.get(key):
            form[key] = str(refresh[key])
    method = refresh["token_endpoint_auth"]["type"]
    if method == "client_secret_basic":
        return form, httpx2.BasicAuth(str(refresh["client_id"]), secrets.get("client_secret", ""))
    form["client_id"] = str(refresh["client_id"])
    if method == "client_secret_post":
        form["client_secret"] = secrets.get("client_secret", "")
    return form, None


def _grant(body: object) -> TokenGrant | None:
    if not isinstance(body, dict):
        return None
    fields: dict[str, Any] = body  # pyright: ignore[reportUnknownVariableType] - a JSON object
    access, refresh, expires = fields.get("access_token"), fields.get("refresh_token"), fields.get("expires_in")
    if not isinstance(access, str) or not access:
        return None
    lifetime = float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else None
    return TokenGrant(access, refresh if isinstance(refresh, str) and refresh else None, lifetime)


async def exchange(refresh: dict[str, Any], secrets: dict[str, str]) -> TokenGrant:
    """Trade the refresh token for a new access token.

    Args:
        refresh: The credential's public ``refresh`` settings (client id, endpoint, auth method, scope, resource).
        secrets: Its secrets (``refresh_token``, ``client_secret``).

    Raises:
        RefreshFailed: the endpoint refused, or its answer holds no access token.
        RefreshUnreachable: the endpoint could not be reached.
    """
    if not secrets.get("refresh_token"):
        raise RefreshFailed("the credential has no refresh token")
    form, auth = _request(refresh, secrets)
    try:
        async with httpx2.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
            url, headers = str(refresh["token_endpoint"]), {"accept": "application/json"}
            if auth is None:
                response = await http.post(url, data=form, headers=headers)
            else:
                response = await http.post(url, data=form, auth=auth, headers=headers)
    except httpx2.HTTPError as err:
        raise RefreshUnreachable(f"could not reach the token endpoint ({type(err).__name__})") from None
    if response.status_code != 200:
        raise RefreshFailed(f"the token endpoint answered HTTP {response.status_code}", capture(response, secrets))
    try:
        grant = _grant(response.json())
    except ValueError:
        grant = None
    if grant is None:
        raise RefreshFailed("the token endpoint's answer holds no access_token", capture(response, secrets))
    return grant
