"""``dma agents apply -f dir/``: declarative agents and environments; a second apply changes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import anthropic

from tests.cli.conftest import Cli

ROOT = Path(__file__).resolve().parents[2]


def declarations(directory: Path) -> tuple[Path, dict[str, str]]:
    """The repo's examples/ under fresh names, so runs on a shared stack never meet each other's resources."""
    suffix = uuid.uuid4().hex[:8]
    names = {}
    directory.mkdir()
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        text = example.read_text()
        for line in text.splitlines():
            if line.startswith("name: "):
                old = line.removeprefix("name: ")
                names[old] = f"{old}-{suffix}"
                text = text.replace(line, f"name: {names[old]}")
        (directory / example.name).write_text(text)
    return directory, names


def test_apply_twice_changes_nothing_the_second_time(cli: Cli, client: anthropic.Anthropic, tmp_path: Path) -> None:
    directory, names = declarations(tmp_path / "decl")
    first = cli.run("agents", "apply", "-f", str(directory)).stdout.splitlines()
    assert sorted(line.split()[0] for line in first) == ["created"] * 3, first
    agents = {a.name: a for a in client.beta.agents.list(limit=100) if a.name in names.values()}
    environments = [e for e in client.beta.environments.list(limit=100) if e.name == names["dma-chat"]]
    assert set(agents) == {names["demo"], names["careful"]} and len(environments) == 1
    careful = agents[names["careful"]]
    assert careful.tools[0].configs[0].permission_policy.type == "always_ask"

    second = cli.run("agents", "apply", "-f", str(directory)).stdout.splitlines()
    assert sorted(line.split()[0] for line in second) == ["unchanged"] * 3, second
    for name, before in agents.items():
        after = client.beta.agents.retrieve(before.id)
        assert (after.version, after.updated_at) == (before.version, before.updated_at), name
        assert len(list(client.beta.agents.versions.list(before.id))) == 1
    environment = client.beta.environments.retrieve(environments[0].id)
    assert environment.updated_at == environments[0].updated_at


def test_a_changed_file_makes_one_new_version(cli: Cli, client: anthropic.Anthropic, tmp_path: Path) -> None:
    directory, names = declarations(tmp_path / "decl")
    cli.run("agents", "apply", "-f", str(directory))
    demo = directory / "demo.yaml"
    demo.write_text(demo.read_text().replace("You are a helpful assistant.", "You are terse."))
    changed = cli.run("agents", "apply", "-f", str(demo)).stdout
    assert f"updated agent {names['demo']}" in changed and "v1 → v2: system" in changed
    again = cli.run("agents", "apply", "-f", str(demo)).stdout
    assert f"unchanged agent {names['demo']}" in again and "v2" in again
    stored = next(a for a in client.beta.agents.list(limit=100) if a.name == names["demo"])
    assert stored.version == 2 and stored.system == "You are terse."


def test_create_show_and_list(cli: Cli, tmp_path: Path) -> None:
    name = f"one-{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "agent.yaml"
    spec.write_text(f"name: {name}\nmodel: scripted\nsystem: Hi.\n")
    created = cli.run("agents", "create", "-f", str(spec)).stdout
    agent_id = created.split("(")[1].split(",")[0]
    assert created.startswith(f"created agent {name} (agent_")
    shown = cli.run("agents", "show", name).stdout
    assert f"id: {agent_id}" in shown and "system: Hi." in shown and "version: 1" in shown
    assert agent_id in cli.run("agents", "list").stdout


def test_bad_input_is_one_clear_line(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "agent.yaml"
    spec.write_text("name: x\n")
    refused = cli.run("agents", "apply", "-f", str(spec), ok=False)
    assert refused.returncode == 2 and "needs a model" in refused.stderr and "Traceback" not in refused.stderr
    missing = cli.run("agents", "show", f"nobody-{uuid.uuid4().hex[:6]}", ok=False)
    assert missing.returncode == 1 and "no agent named" in missing.stderr
    wrong_key = cli.run("agents", "list", "--api-key", "not-a-key", ok=False)
    assert wrong_key.returncode == 1 and "refused the API key from --api-key (401)" in wrong_key.stderr
    nowhere = cli.run("sessions", "list", "--base-url", "http://127.0.0.1:9", ok=False)
    assert nowhere.returncode == 1 and "cannot reach dma at http://127.0.0.1:9" in nowhere.stderr
