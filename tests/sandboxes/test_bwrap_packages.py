"""Environment packages on the bwrap backend: installed at first use through the sandbox's proxy from the configured
index (the test host's), under the session's policy, then served from the worker's cache without any network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from activities.sandboxes import SandboxError, SandboxManager
from activities.sandboxes.egress import EgressService, Mirrors
from tests.netlab import content
from tests.netlab.fixtures import PIP_MIRROR, LabCredentials, lab_options
from tests.netlab.lab import LabInternet
from tests.sandboxes.fixtures import TEST_LIMITS, Caller, new_data_dir, new_session_id, spec
from tests.stack import remove_private_data_dir

IMPORT = "python3 -c 'import {0}; print({0}.MESSAGE)'"


@pytest.fixture(scope="module")
async def bwrap_manager(internet: LabInternet, credentials: LabCredentials) -> AsyncIterator[SandboxManager]:
    data_dir = new_data_dir()
    egress = EgressService(lab_options(internet, credentials, mirrors=Mirrors(pip_index_url=PIP_MIRROR)))
    sandboxes = SandboxManager(data_dir, "bwrap", limits=TEST_LIMITS, egress=egress)
    yield sandboxes
    for session in list(sandboxes._entries):  # pyright: ignore[reportPrivateUsage]
        await sandboxes.destroy(session)
    await sandboxes.close()
    remove_private_data_dir(data_dir)


def _caller(manager: SandboxManager, packages: list[str], **networking: object) -> Caller:
    call = Caller(manager, new_session_id())
    call.spec = spec(call.spec.session_id, packages={"pip": packages}, **networking)
    return call


async def test_first_use_installs_through_the_proxy_and_later_sandboxes_use_the_cache(
    bwrap_manager: SandboxManager, internet: LabInternet
) -> None:
    mark = internet.mark()
    first = _caller(bwrap_manager, [content.PACKAGE], networking="limited", allow_package_managers=True)
    installed = await first.bash(IMPORT.format(content.PACKAGE))
    assert installed.text_for_model == f"installed {content.PACKAGE} {content.VERSION}", installed.text_for_model
    paths = [str(entry["path"]) for entry in internet.since(mark)]
    assert f"/simple/{content.PACKAGE}/" in paths and any(p.startswith("/packages/") for p in paths), paths
    assert all(entry["peer"] == internet.gateway_ip for entry in internet.since(mark)), "through the proxy"
    mark = internet.mark()
    second = _caller(bwrap_manager, [content.PACKAGE], networking="limited", allow_package_managers=True)
    again = await second.bash(IMPORT.format(content.PACKAGE) + "; ls /workspace/.dma-packages/python")
    assert again.text_for_model.startswith(f"installed {content.PACKAGE}"), again.text_for_model
    assert internet.since(mark) == [], "the second sandbox got the cached copy"
    # A restart keeps the installed packages (they live in the workspace).
    assert not (await second("bash", restart=True)).is_error
    assert (await second.bash(IMPORT.format(content.PACKAGE))).text_for_model.startswith("installed")
    for call in (first, second):
        await bwrap_manager.destroy(call.spec.session_id)


async def test_the_install_follows_the_sessions_policy(bwrap_manager: SandboxManager, internet: LabInternet) -> None:
    mark = internet.mark()
    call = _caller(bwrap_manager, [content.OTHER_PACKAGE], networking="limited")
    with pytest.raises(SandboxError) as refused:
        await bwrap_manager.ensure(call.spec)
    assert "network policy refused:\n  GET pypi.internet.test:80 (limited: pypi.internet.test is not in" in str(
        refused.value
    )
    assert internet.since(mark) == []
    await bwrap_manager.destroy(call.spec.session_id)


async def test_a_workspace_cannot_slip_files_into_the_cache(bwrap_manager: SandboxManager) -> None:
    call = _caller(bwrap_manager, [content.OTHER_PACKAGE], networking="unrestricted")
    seeded = bwrap_manager.workspace(call.spec.session_id) / ".dma-packages" / "python"
    seeded.mkdir(parents=True)
    (seeded / "planted.py").write_text("PLANTED = True\n")
    (seeded.parent / ".key").write_text("not-the-key")
    listing = await call.bash(f"{IMPORT.format(content.OTHER_PACKAGE)}; ls /workspace/.dma-packages/python")
    assert listing.text_for_model.startswith(f"installed {content.OTHER_PACKAGE}")
    assert "planted" not in listing.text_for_model
    cache = Path(bwrap_manager.workspace("x")).parents[2] / "package-cache"
    assert not list(cache.rglob("planted.py"))
    await bwrap_manager.destroy(call.spec.session_id)


async def test_apt_packages_need_the_docker_backend(bwrap_manager: SandboxManager) -> None:
    call = Caller(bwrap_manager, new_session_id())
    call.spec = spec(call.spec.session_id, packages={"apt": ["jq"]})
    with pytest.raises(SandboxError, match="apt need the docker sandbox backend"):
        await bwrap_manager.ensure(call.spec)
