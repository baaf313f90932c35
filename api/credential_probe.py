"""``mcp_oauth_validate``: the API checks the request, a worker probes the credential (``CredentialProbeWorkflow``)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from api.deps import AppState
from api.errors import ApiError, InvalidRequest
from dma.clock import rfc3339, utcnow
from dma.store import credentials as store
from workflows.contracts import CredentialProbe
from workflows.credential_probe import CredentialProbeWorkflow

logger = logging.getLogger(__name__)
PROBE_DEADLINE = timedelta(seconds=45)


async def validate(state: AppState, vault_id: str, credential_id: str) -> dict[str, Any]:
    """Run the probe on a worker and return the ``vault_credential_validation`` object.

    Raises:
        NotFoundError: when the vault or credential does not exist.
        InvalidRequest: when the credential is not a live ``mcp_oauth`` credential.
        ApiError: 503 when no worker answered in time (nothing was changed).
    """
    row = await store.credential_row(state.db, vault_id, credential_id)
    if row.auth_type != "mcp_oauth":
        raise InvalidRequest(f"only mcp_oauth credentials can be validated; {credential_id!r} is {row.auth_type}")
    if row.archived_at is not None:
        raise InvalidRequest(f"credential {credential_id!r} is archived; its secrets were purged")
    try:
        reply = await state.temporal.execute_workflow(
            CredentialProbeWorkflow.run,
            CredentialProbe(vault_id=vault_id, credential_id=credential_id),
            id=f"probe-{credential_id}-{uuid.uuid4().hex[:8]}",
            task_queue=state.settings.task_queue,
            execution_timeout=PROBE_DEADLINE,
        )
    except (RPCError, WorkflowFailureError) as err:
        logger.warning("credential probe of %s did not finish: %s", credential_id, type(err).__name__)
        raise ApiError(503, "no worker could probe the credential in time; retry shortly") from err
    return {
        "type": "vault_credential_validation",
        "credential_id": credential_id,
        "vault_id": vault_id,
        "validated_at": rfc3339(utcnow()),
        **reply.model_dump(mode="json"),
    }
