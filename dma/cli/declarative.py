"""Declarative agents and environments (``dma agents create|apply -f``): files in, the changes to make out.

A file holds one or more YAML (or JSON) documents; each is an agent or an environment as the API's create body, plus
``kind: agent`` (the default) or ``kind: environment``. A document finds its resource by ``id:`` when it gives one,
else by ``name`` among the resources that are not archived.

Applying compares each document with the stored resource and sends only what differs, so applying the same files
twice changes nothing the second time. The stored resource may carry more than the file (defaults the server fills
in), so a value in the file matches when it is contained in the stored one: mappings key by key, lists element by
element. A top-level field the file leaves out is cleared (``system``, ``description``, ``tools``, …); ``metadata``,
when given, is the whole map (keys the file lacks are removed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import yaml

Kind = Literal["agent", "environment"]
KINDS: tuple[Kind, ...] = ("agent", "environment")
SUFFIXES = (".yaml", ".yml", ".json")
# What a field the file leaves out is reset to, per kind.
AGENT_RESETS: dict[str, Any] = {"description": None, "system": None, "tools": [], "mcp_servers": [], "skills": []}
ENVIRONMENT_RESETS: dict[str, Any] = {"description": None}


class SpecError(ValueError):
    """A file that is not a valid declaration; the message names the file."""


@dataclass(frozen=True)
class Spec:
    """One declared resource."""

    kind: Kind
    name: str
    body: dict[str, Any]
    source: str
    resource_id: str | None = None


def spec_files(path: Path) -> list[Path]:
    """The declaration files at ``path``: the file itself, or a directory's YAML and JSON files in name order."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if path.is_file():
        return [path]
    raise SpecError(f"{path}: no such file or directory")


def load(path: Path) -> list[Spec]:
    """Every declaration in the files at ``path``, agents and environments in file order.

    Raises:
        SpecError: when a file is not YAML, or a document is not a mapping with a ``name``.
    """
    specs: list[Spec] = []
    for file in spec_files(path):
        try:
            documents = list(yaml.safe_load_all(file.read_text()))
        except (OSError, yaml.YAMLError) as err:
            raise SpecError(f"{file}: {err}") from None
        for index, document in enumerate(documents):
            if document is not None:
                specs.append(_spec(document, f"{file}" + (f" (document {index + 1})" if len(documents) > 1 else "")))
    return specs


def _spec(document: object, source: str) -> Spec:
    if not isinstance(document, dict):
        raise SpecError(f"{source}: expected a mapping, got {type(document).__name__}")
    body = {str(key): value for key, value in cast(dict[object, Any], document).items()}
    kind = body.pop("kind", "agent")
    if kind not in KINDS:
        raise SpecError(f"{source}: kind must be agent or environment, got {kind!r}")
    resource_id = body.pop("id", None)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{source}: every {kind} needs a name")
    if kind == "agent" and "model" not in body:
        raise SpecError(f"{source}: agent {name!r} needs a model (for example: model: scripted)")
    return Spec(kind, name, body, source, resource_id if isinstance(resource_id, str) else None)


def contains(stored: object, wanted: object) -> bool:
    """Whether ``wanted`` (from a file) is contained in ``stored`` (from the API)."""
    if isinstance(wanted, dict):
        if not isinstance(stored, dict):
            return False
        have = cast(dict[str, object], stored)
        return all(contains(have.get(key), value) for key, value in cast(dict[str, object], wanted).items())
    if isinstance(wanted, list):
        if not isinstance(stored, list):
            return False
        have_items = cast(list[object], stored)
        want_items = cast(list[object], wanted)
        return len(have_items) == len(want_items) and all(map(contains, have_items, want_items))
    return stored == wanted


def _normalized(kind: Kind, key: str, value: Any) -> Any:
    # Shorthand forms the API accepts but answers in object form (API_CONTRACT.md §1.7).
    if kind == "agent" and key == "model" and isinstance(value, str):
        return {"id": value}
    return value


def changes(spec: Spec, stored: dict[str, Any]) -> dict[str, Any]:
    """The update body that makes ``stored`` what ``spec`` declares; empty when it already is."""
    update: dict[str, Any] = {}
    for key, value in spec.body.items():
        if key == "metadata":
            continue
        if not contains(stored.get(key), _normalized(spec.kind, key, value)):
            update[key] = value
    resets = AGENT_RESETS if spec.kind == "agent" else ENVIRONMENT_RESETS
    for key, empty in resets.items():
        if key not in spec.body and stored.get(key) not in (None, [], ""):
            update[key] = empty
    if "metadata" in spec.body:
        metadata = _metadata_changes(spec, cast(dict[str, str], stored.get("metadata") or {}))
        if metadata:
            update["metadata"] = metadata
    return update


def _metadata_changes(spec: Spec, stored: dict[str, str]) -> dict[str, str | None]:
    wanted: object = spec.body.get("metadata") or {}
    if not isinstance(wanted, dict):
        raise SpecError(f"{spec.source}: metadata must be a mapping of strings")
    declared = {str(k): str(v) for k, v in cast(dict[object, object], wanted).items()}
    update: dict[str, str | None] = {k: v for k, v in declared.items() if stored.get(k) != v}
    update.update({k: None for k in stored if k not in declared})
    return update
