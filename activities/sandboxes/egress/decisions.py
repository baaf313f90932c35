"""One structured log line per egress decision (logger ``dma.egress``): JSON, never a path, a header or a secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

logger = logging.getLogger("dma.egress")


@dataclass(frozen=True)
class Decision:
    """What the proxy decided about one connection or request of a sandbox.

    Attributes:
        session: The session whose sandbox asked.
        method: ``CONNECT`` for a tunnel, else the HTTP method of a forwarded or intercepted request.
        host: The destination as the sandbox named it.
        port: The destination port.
        verdict: ``allow`` or ``refuse``.
        policy: The environment's policy (``unrestricted`` / ``limited``), or ``always enforced`` for the address
            rules, or ``protocol`` for requests the proxy cannot read.
        reason: Why it refused (empty when allowed).
        address: The address connected to (allowed connections only).
        intercepted: The tunnel's TLS is terminated at the proxy for credential substitution.
        substituted: Names (never values) of the secrets substituted into this request.
    """

    session: str
    method: str
    host: str
    port: int
    verdict: str
    policy: str
    reason: str = ""
    address: str = ""
    intercepted: bool = False
    substituted: Sequence[str] = field(default_factory=tuple[str, ...])


def record(decision: Decision) -> None:
    """Log ``decision`` as one line: ``egress {json}``."""
    fields = asdict(decision)
    fields["substituted"] = list(decision.substituted)
    logger.info("egress %s", json.dumps(fields, sort_keys=True))
