"""Which model an attempt of ``model_step`` calls, and what a failure leads to: a retry, a fallback, or the end.

Temporal retries the activity; the attempt number picks the model. With ``per_model`` attempts per model and the
chain ``[model, *fallbacks]``, attempts ``1..per_model`` call the model, the next ``per_model`` its first fallback,
and so on. A retryable failure (overload, rate limit, 5xx, network) on a model's last attempt moves on to the next
model after a short pause; a non-retryable one (bad request, bad key) ends the turn at once, with no failover.
Each model gets its own backoff, so a fallback starts fresh. Keeping the choice in the activity keeps the workflow
unchanged: it only allows enough attempts for the longest chain (``MAX_MODEL_CHAIN``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from activities.model.errors import ProviderFailure
from dma.catalog.catalog import Route

FIRST_BACKOFF = timedelta(seconds=1)
MAX_BACKOFF = timedelta(seconds=30)
FAILOVER_PAUSE = timedelta(milliseconds=200)


@dataclass(frozen=True)
class Decision:
    """What follows a failed attempt: ``retrying`` (same or next model, after ``delay``) or the end of the turn."""

    retrying: bool
    message: str
    delay: timedelta | None = None
    next_model: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One attempt of a model request: its number (from 1), the model chain and the attempts each model gets."""

    routes: list[Route]
    per_model: int
    number: int

    @property
    def index(self) -> int:
        """The position in the chain of the model this attempt calls."""
        return min((self.number - 1) // self.per_model, len(self.routes) - 1)

    @property
    def route(self) -> Route:
        return self.routes[self.index]

    @property
    def total(self) -> int:
        """Attempts the whole chain allows."""
        return self.per_model * len(self.routes)

    @property
    def overdue(self) -> bool:
        """Attempts ran out without a classified failure (the last ones died: a killed worker, a timeout)."""
        return self.number > self.total

    def _backoff(self) -> timedelta:
        within = (self.number - 1) % self.per_model
        return min(MAX_BACKOFF, FIRST_BACKOFF * (2**within))

    def after(self, failure: ProviderFailure) -> Decision:
        """The decision for this attempt's failure."""
        if not failure.retryable or self.number >= self.total:
            return Decision(False, failure.message)
        if self.number % self.per_model == 0:
            following = self.routes[self.index + 1].model_id
            message = (
                f"{failure.message} — {self.route.model_id} failed {self.per_model} time(s); "
                f"failing over to {following}"
            )
            return Decision(True, message[:2000], FAILOVER_PAUSE, following)
        return Decision(True, failure.message, failure.retry_after or self._backoff())
