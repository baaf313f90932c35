"""What ``dma agents apply`` decides to change, from a file and the stored resource (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dma.cli.declarative import Spec, SpecError, changes, contains, load

STORED_AGENT = {
    "id": "agent_x",
    "name": "demo",
    "version": 3,
    "model": {"id": "scripted", "speed": "standard"},
    "system": "Be brief.",
    "description": None,
    "tools": [
        {
            "type": "agent_toolset_20260401",
            "default_config": {"enabled": True, "permission_policy": {"type": "always_ask"}},
            "configs": [],
        }
    ],
    "mcp_servers": [],
    "skills": [],
    "metadata": {"team": "a"},
}


def agent(**body: object) -> Spec:
    return Spec("agent", "demo", {"name": "demo", "model": "scripted", **body}, "test.yaml")


def test_values_the_server_filled_in_do_not_count_as_changes() -> None:
    tools = [{"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "always_ask"}}}]
    assert changes(agent(system="Be brief.", tools=tools, metadata={"team": "a"}), STORED_AGENT) == {}


def test_a_changed_value_is_sent_alone() -> None:
    tools = [{"type": "agent_toolset_20260401"}]
    assert changes(agent(system="Be terse.", tools=tools, metadata={"team": "a"}), STORED_AGENT) == {
        "system": "Be terse."
    }


def test_fields_left_out_of_the_file_are_cleared() -> None:
    assert changes(agent(), STORED_AGENT) == {"system": None, "tools": []}


def test_metadata_is_the_whole_map() -> None:
    update = changes(agent(system="Be brief.", tools=STORED_AGENT["tools"], metadata={"owner": "b"}), STORED_AGENT)
    assert update == {"metadata": {"owner": "b", "team": None}}


def test_lists_match_element_by_element_and_by_length() -> None:
    assert contains([{"a": 1, "b": 2}], [{"a": 1}])
    assert not contains([{"a": 1}], [{"a": 1}, {"a": 1}])
    assert not contains({"a": 1}, [{"a": 1}])
    assert contains({"id": "scripted", "speed": None}, {"id": "scripted"})


def test_files_declare_agents_and_environments(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: one\nmodel: scripted\n---\nkind: environment\nname: env\n")
    (tmp_path / "b.json").write_text('{"name": "two", "model": "scripted", "id": "agent_abc"}')
    (tmp_path / "notes.txt").write_text("not a declaration")
    specs = load(tmp_path)
    assert [(s.kind, s.name, s.resource_id) for s in specs] == [
        ("agent", "one", None),
        ("environment", "env", None),
        ("agent", "two", "agent_abc"),
    ]
    assert "id" not in specs[2].body and "kind" not in specs[1].body


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just\n- a list\n", "expected a mapping"),
        ("kind: robot\nname: x\n", "kind must be agent or environment"),
        ("model: scripted\n", "needs a name"),
        ("name: x\n", "needs a model"),
        ("name: [unclosed\n", "a.yaml"),
    ],
)
def test_bad_files_are_refused_with_their_name(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "a.yaml").write_text(text)
    with pytest.raises(SpecError, match=message.replace("[", r"\[")):
        load(tmp_path / "a.yaml")
