"""``CredentialProbeWorkflow``: runs the ``probe_credential`` activity for ``mcp_oauth_validate``.

The probe opens the credential's secrets and talks to the MCP server and token endpoint, which is a worker's job: the
API only seals what clients write. A workflow (rather than the API calling out itself) keeps every use of a secret
on the workers, next to the MCP calls that use the same secrets.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.contracts import CredentialProbe, ProbeReply
from workflows.declarations import PROBE_CREDENTIAL


@workflow.defn
class CredentialProbeWorkflow:
    """One probe of one credential; returns the verdict."""

    @workflow.run
    async def run(self, probe: CredentialProbe) -> ProbeReply:
        return await PROBE_CREDENTIAL.run(probe, summary=f"probe credential {probe.credential_id}")
