"""``dma deployments`` and ``dma deployment-runs`` list what the API wrote, from the database."""

from __future__ import annotations

import subprocess
import sys

import anthropic

from tests.api.test_deployments import deploy
from tests.stack import Stack


def dma(stack: Stack, *args: str) -> str:
    env = {**stack.worker_env()}
    done = subprocess.run([sys.executable, "-m", "dma.cli", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_lists_deployments_and_runs(client: anthropic.Anthropic, stack: Stack) -> None:
    scheduled = deploy(
        client, name="cli-scheduled", schedule={"type": "cron", "expression": "0 9 * * 1", "timezone": "UTC"}
    )
    manual = deploy(client, name="cli-manual")
    run = client.beta.deployments.run(manual.id)
    client.beta.deployments.archive(scheduled.id)
    listed = dma(stack, "deployments", "--limit", "500")
    assert manual.id in listed and "manual" in listed and scheduled.id not in listed
    assert scheduled.id in dma(stack, "deployments", "--all", "--limit", "500")
    runs = dma(stack, "deployment-runs", "--deployment-id", manual.id)
    assert run.id in runs and (run.session_id or "") in runs and "manual" in runs
