"""Maps provider failures onto Temporal's retry decisions and the session's ``session.error`` types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import anthropic
import httpx2

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True)
class ProviderFailure:
    """What went wrong, in the terms the session reports and Temporal retries by."""

    error_type: str
    message: str
    retryable: bool
    retry_after: timedelta | None = None


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


def classify(error: Exception) -> ProviderFailure:
    """Classify an exception raised by the provider SDK (or the network below it)."""
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        if status == 529 or status == 503:
            kind = "model_overloaded_error"
        elif status == 429:
            kind = "model_rate_limited_error"
        elif status == 402:
            kind = "billing_error"
        else:
            kind = "model_request_failed_error"
        return ProviderFailure(
            error_type=kind,
            message=f"model provider returned {status}: {error.message}"[:1000],
            retryable=status in RETRYABLE_STATUS,
            retry_after=_retry_after(error.response.headers),
        )
    if isinstance(error, anthropic.APIConnectionError | httpx2.TransportError):
        return ProviderFailure("model_request_failed_error", f"could not reach the model provider: {error}", True)
    return ProviderFailure("unknown_error", f"model request failed: {type(error).__name__}", False)
