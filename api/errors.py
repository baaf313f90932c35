"""The error envelope of API_CONTRACT.md §1.6 and the handlers that render every failure in it.

Bad input must never produce a 500 or a traceback: validation errors become 400 ``invalid_request_error``, unknown
routes 404, and anything unexpected a 500 ``api_error`` whose body says nothing about the internals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from dma.schemas.common import DomainError

logger = logging.getLogger(__name__)

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """A domain error rendered as ``{"type": "error", "error": {...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or _STATUS_TYPES.get(status, "api_error")
        self.error_code = error_code
        self.headers = headers or {}


class InvalidRequest(ApiError):
    """400 ``invalid_request_error``."""

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(400, message, error_code=error_code)


class NotFound(ApiError):
    """404 ``not_found_error``."""

    def __init__(self, kind: str, resource_id: str, *, error_code: str | None = None) -> None:
        super().__init__(404, f"{kind} {resource_id!r} not found", error_code=error_code)


class Conflict(ApiError):
    """A deterministic conflict: ``x-should-retry: false`` stops the SDK from repeating the request."""

    def __init__(self, message: str, *, error_type: str = "conflict_error") -> None:
        super().__init__(409, message, error_type=error_type, headers={"x-should-retry": "false"})


class Unauthorized(ApiError):
    """401 ``authentication_error``."""

    def __init__(self, message: str) -> None:
        super().__init__(401, message)


def request_id_of(request: Request) -> str:
    """The id the request-id middleware gave this request."""
    return str(getattr(request.state, "request_id", ""))


def envelope(request: Request, error: ApiError) -> JSONResponse:
    """Render an ``ApiError`` with its status, headers and the request id."""
    body: dict[str, Any] = {"type": error.error_type, "message": error.message}
    if error.error_code:
        body["details"] = {"error_code": error.error_code}
    request_id = request_id_of(request)
    return JSONResponse(
        {"type": "error", "error": body, "request_id": request_id},
        status_code=error.status,
        headers={**error.headers, "request-id": request_id},
    )


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """One readable line per pydantic error, naming where it is (``body.events.0.type``) and what is wrong."""
    parts: list[str] = []
    for error in list(errors)[:5]:
        location = ".".join(str(piece) for piece in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', 'invalid value')}" if location else str(error.get("msg")))
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more errors")
    return "; ".join(parts) or "invalid request"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return envelope(request, exc)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    if exc.status == 409:
        return envelope(request, Conflict(exc.message, error_type=getattr(exc, "error_type", "conflict_error")))
    return envelope(request, ApiError(exc.status, exc.message, error_code=exc.error_code))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return envelope(request, InvalidRequest(describe_validation_errors(exc.errors())))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail) or "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    return envelope(request, ApiError(exc.status_code, message))


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    error = ApiError(
        503, "the database is unavailable; nothing was changed, retry shortly", error_type="overloaded_error"
    )
    return envelope(request, error)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # noqa: ARG001 - logged via logger.exception
    logger.exception("unhandled error on %s %s (request %s)", request.method, request.url.path, request_id_of(request))
    return envelope(request, ApiError(500, "internal server error", error_type="api_error"))


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # A database that is restarting or out of pooled connections is transient: 503 tells the SDK to retry.
    for transient in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(transient, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
