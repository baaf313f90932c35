"""Real resources of every kind for the fuzz suites to aim at (one set per stack): an agent, an environment, a
session with a file resource and a wakeup, a file, a memory store with a memory and its version, a skill, a vault
with a credential, and a deployment with one run."""

from __future__ import annotations

import httpx

SKILL_MD = b"---\nname: fuzz\ndescription: fuzz skill\n---\n"


def make_resources(http: httpx.Client, prefix: str) -> dict[str, str]:
    agent = http.post("/v1/agents", json={"name": prefix, "model": "claude-sonnet-4-6"}).json()["id"]
    env = http.post("/v1/environments", json={"name": prefix, "config": {"type": "cloud"}}).json()["id"]
    file_id = http.post("/v1/files", files={"file": ("fuzz.txt", b"fuzz", "text/plain")}).json()["id"]
    resources = [{"type": "file", "file_id": file_id}]
    session = http.post("/v1/sessions", json={"agent": agent, "environment_id": env, "resources": resources}).json()
    store = http.post("/v1/memory_stores", json={"name": prefix}).json()["id"]
    memory = http.post(f"/v1/memory_stores/{store}/memories", json={"path": "/fuzz.md", "content": "x"}).json()
    skill = http.post("/v1/skills", files=[("files[]", ("fuzz/SKILL.md", SKILL_MD))]).json()
    vault, credential = seed_vault(http)
    events = [{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]
    deployment = http.post(
        "/v1/deployments", json={"name": prefix, "agent": agent, "environment_id": env, "initial_events": events}
    ).json()["id"]
    run = http.post(f"/v1/deployments/{deployment}/run").json()["id"]
    wakeup = http.post(f"/v1/sessions/{session['id']}/wakeups", json={"reason": "r", "in_seconds": 3600}).json()["id"]
    return {
        "agent_id": agent,
        "agent": agent,
        "environment_id": env,
        "session_id": session["id"],
        "resource_id": session["resources"][0]["id"],
        "file_id": file_id,
        "memory_store_id": store,
        "memory_id": memory["id"],
        "memory_version_id": memory["memory_version_id"],
        "skill_id": skill["id"],
        "version": skill["latest_version_id"],
        "vault_id": vault,
        "credential_id": credential,
        "deployment_id": deployment,
        "deployment_run_id": run,
        "wakeup_id": wakeup,
    }


def seed_vault(http: httpx.Client) -> tuple[str, str]:
    """A vault with a static bearer credential (whose probe is a quick 400: only mcp_oauth can be validated)."""
    vault = http.post("/v1/vaults", json={"display_name": "fuzz"}).json()["id"]
    auth = {"type": "static_bearer", "token": "fuzz-token", "mcp_server_url": "https://fuzz.example.com/mcp"}
    credential = http.post(f"/v1/vaults/{vault}/credentials", json={"auth": auth}).json()["id"]
    return vault, credential
