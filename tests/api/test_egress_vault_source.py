"""Which vault credentials a session's sandbox gets (``VaultCredentials``), on both databases: the live
``environment_variable`` ones of the session's own vaults, the first vault winning a shared ``secret_name``, with their
networking and injection location as stored; never an archived, deleted or MCP credential, nor another vault's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import anthropic

from activities.sandboxes.egress import SessionSecret, VaultCredentials, stable_placeholder
from dma.crypto import Keyring
from tests.helpers import make_session
from tests.stack import SECRET_KEY, Stack


def _env(name: str, value: str, **extra: Any) -> Any:
    """The ``auth`` of an ``environment_variable`` credential (the SDK types it as a TypedDict union)."""
    return {
        "type": "environment_variable",
        "secret_name": name,
        "secret_value": value,
        "networking": {"type": "unrestricted"},
        **extra,
    }


def _secrets(stack: Stack, session_id: str) -> Sequence[SessionSecret]:
    assert stack.db is not None
    source = VaultCredentials(stack.db, Keyring.from_settings(SECRET_KEY))
    return stack.run(source.secrets_for(session_id))


def test_a_session_gets_the_live_environment_variables_of_its_own_vaults(
    client: anthropic.Anthropic, stack: Stack
) -> None:
    tag = uuid.uuid4().hex
    first, second, elsewhere = (client.beta.vaults.create(display_name=name) for name in ("first", "second", "other"))
    limited = {"type": "limited", "allowed_hosts": ["api.example.com", "*.example.org"]}
    create = client.beta.vaults.credentials.create
    shared = create(
        first.id, auth=_env("SHARED", f"first-{tag}", networking=limited, injection_location={"body": False})
    )
    create(second.id, auth=_env("SHARED", f"second-{tag}"))
    only_second = create(second.id, auth=_env("ONLY_SECOND", f"only-{tag}", injection_location={"header": False}))
    archived = create(first.id, auth=_env("ARCHIVED", f"archived-{tag}"))
    client.beta.vaults.credentials.archive(archived.id, vault_id=first.id)
    deleted = create(second.id, auth=_env("DELETED", f"deleted-{tag}"))
    client.beta.vaults.credentials.delete(deleted.id, vault_id=second.id)
    bearer: Any = {"type": "static_bearer", "mcp_server_url": "https://mcp.example.com/mcp", "token": f"bearer-{tag}"}
    create(first.id, auth=bearer)
    create(elsewhere.id, auth=_env("ELSEWHERE", f"elsewhere-{tag}"))
    session = make_session(client, vault_ids=[first.id, second.id])

    got = {secret.secret_name: secret for secret in _secrets(stack, session.id)}
    assert sorted(got) == ["ONLY_SECOND", "SHARED"]
    assert got["SHARED"] == SessionSecret(
        "SHARED",
        stable_placeholder("SHARED", session.id, shared.id),
        f"first-{tag}",
        ("api.example.com", "*.example.org"),
        header=True,
        body=False,
        credential_id=shared.id,
    )
    assert got["ONLY_SECOND"] == SessionSecret(
        "ONLY_SECOND",
        stable_placeholder("ONLY_SECOND", session.id, only_second.id),
        f"only-{tag}",
        None,
        False,
        True,
        only_second.id,
    )
    # The same placeholder at every sandbox start; another session's differs.
    assert {s.placeholder for s in _secrets(stack, session.id)} == {s.placeholder for s in got.values()}
    other = make_session(client, vault_ids=[second.id, first.id])
    by_name = {secret.secret_name: secret for secret in _secrets(stack, other.id)}
    assert by_name["SHARED"].secret_value == f"second-{tag}", "the first vault in vault_ids order wins"
    assert by_name["ONLY_SECOND"].placeholder != got["ONLY_SECOND"].placeholder


def test_archiving_a_vault_takes_its_credentials_away(client: anthropic.Anthropic, stack: Stack) -> None:
    vault = client.beta.vaults.create(display_name="archived")
    client.beta.vaults.credentials.create(vault.id, auth=_env("TOKEN", uuid.uuid4().hex))
    session = make_session(client, vault_ids=[vault.id])
    assert [s.secret_name for s in _secrets(stack, session.id)] == ["TOKEN"]
    client.beta.vaults.archive(vault.id)
    assert _secrets(stack, session.id) == ()
    assert _secrets(stack, make_session(client).id) == ()


def test_the_proxy_sees_credentials_as_they_are_now(client: anthropic.Anthropic, stack: Stack) -> None:
    tag = uuid.uuid4().hex
    vault = client.beta.vaults.create(display_name="current")
    create = client.beta.vaults.credentials.create
    kept = create(vault.id, auth=_env("KEPT", f"old-{tag}"))
    gone = create(vault.id, auth=_env("GONE", f"gone-{tag}"))
    deleted = create(vault.id, auth=_env("DELETED", f"deleted-{tag}"))
    session = make_session(client, vault_ids=[vault.id])
    started = _secrets(stack, session.id)
    assert {secret.secret_name for secret in started} == {"KEPT", "GONE", "DELETED"}
    update: Any = {
        "type": "environment_variable",
        "secret_value": f"new-{tag}",
        "networking": {"type": "limited", "allowed_hosts": ["api.example.com"]},
    }
    client.beta.vaults.credentials.update(kept.id, vault_id=vault.id, auth=update)
    client.beta.vaults.credentials.archive(gone.id, vault_id=vault.id)
    client.beta.vaults.credentials.delete(deleted.id, vault_id=vault.id)
    assert stack.db is not None
    source = VaultCredentials(stack.db, Keyring.from_settings(SECRET_KEY))
    [now] = stack.run(source.current(session.id, started))
    before = next(secret for secret in started if secret.secret_name == "KEPT")
    assert now.secret_value == f"new-{tag}" and now.allowed_hosts == ("api.example.com",)
    assert now.placeholder == before.placeholder, "the sandbox's variable still matches"
