"""Maps provider failures onto Temporal's retry decisions and the session's ``session.error`` types.

Failures come from either SDK, the network below them, or an error event inside a stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import anthropic
import httpx2
import openai

from activities.model.openai_responses import ResponseFailed

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# Error codes a Responses stream may end with, in the session's terms.
_STREAM_CODES = {"rate_limit_exceeded": "model_rate_limited_error", "server_is_overloaded": "model_overloaded_error"}


@dataclass(frozen=True)
class ProviderFailure:
    """What went wrong, in the terms the session reports and Temporal retries by."""

    error_type: str
    message: str
    retryable: bool
    retry_after: timedelta | None = None
    status: int | None = None

    @property
    def fails_over(self) -> bool:
        """Overload, rate limits and server errors move on to a fallback model; a bad request or a bad key do not."""
        return self.retryable


class MissingKey(Exception):
    """A provider's key variable is not set on this worker."""


def _retry_after(headers: httpx2.Headers) -> timedelta | None:
    raw_ms = headers.get("retry-after-ms")
    raw = headers.get("retry-after")
    try:
        if raw_ms is not None:
            return timedelta(milliseconds=float(raw_ms))
        if raw is not None:
            return timedelta(seconds=float(raw))
    except ValueError:
        return None
    return None


def _status_kind(status: int) -> str:
    if status in (529, 503):
        return "model_overloaded_error"
    if status == 429:
        return "model_rate_limited_error"
    if status == 402:
        return "billing_error"
    return "model_request_failed_error"


def _status_failure(status: int, message: str, headers: httpx2.Headers) -> ProviderFailure:
    return ProviderFailure(
        error_type=_status_kind(status),
        message=f"model provider returned {status}: {message}"[:1000],
        retryable=status in RETRYABLE_STATUS,
        retry_after=_retry_after(headers),
        status=status,
    )


def classify(error: Exception) -> ProviderFailure:
    """Classify an exception raised while calling a provider."""
    if isinstance(error, anthropic.APIStatusError):
        return _status_failure(error.status_code, error.message, error.response.headers)
    if isinstance(error, openai.APIStatusError):
        return _status_failure(error.status_code, error.message, error.response.headers)
    if isinstance(error, anthropic.APIConnectionError | openai.APIConnectionError | httpx2.TransportError):
        return ProviderFailure("model_request_failed_error", f"could not reach the model provider: {error}", True)
    if isinstance(error, ResponseFailed):
        kind = _STREAM_CODES.get(error.code or "", "model_request_failed_error")
        return ProviderFailure(kind, f"the model provider failed the response: {error}"[:1000], True)
    if isinstance(error, openai.APIError | anthropic.APIError):
        # An error event in the middle of a stream: the provider gave up on this response, a new one may work.
        return ProviderFailure("model_request_failed_error", f"the model stream failed: {error}"[:1000], True)
    if isinstance(error, MissingKey):
        return ProviderFailure("model_request_failed_error", str(error), False)
    return ProviderFailure("unknown_error", f"model request failed: {type(error).__name__}", False)
