"""Environment packages on the docker backend: baked into a cached derived image from Debian's mirror."""

from __future__ import annotations

import pytest

from activities.sandboxes import SandboxError, SandboxManager
from activities.sandboxes.packages import dockerfile, wanted
from tests.sandboxes.fixtures import TEST_LIMITS, Caller, new_data_dir, new_session_id, spec
from tests.stack import remove_private_data_dir


async def test_apt_package_is_installed_in_a_derived_image() -> None:
    data_dir = new_data_dir()
    manager = SandboxManager(data_dir, "docker", limits=TEST_LIMITS)
    caller = Caller(manager, new_session_id())
    caller.spec = spec(caller.spec.session_id, packages={"apt": ["jq"]})
    try:
        outcome = await caller.bash("echo '{\"a\": 41}' | jq '.a + 1'; id -u")
        assert outcome.text_for_model.splitlines() == ["42", "1000"], outcome.text_for_model
    finally:
        await manager.destroy(caller.spec.session_id)
        await manager.close()
        remove_private_data_dir(data_dir)


def test_package_lists_are_checked() -> None:
    assert wanted({"type": [], "apt": [], "pip": ["requests==2.32"]}) == {"pip": ["requests==2.32"]}  # pyright: ignore[reportArgumentType]
    with pytest.raises(SandboxError, match="cargo"):
        wanted({"cargo": ["ripgrep"]})
    with pytest.raises(SandboxError, match="invalid package name"):
        wanted({"pip": ["--index-url=http://evil"]})
    text = dockerfile("dma-sandbox:latest", {"pip": ["a;rm -rf /"], "npm": ["left-pad"]})
    assert "'a;rm -rf /'" in text and "python3-pip" in text and "npm install -g left-pad" in text
    assert text.rstrip().endswith("USER 1000:1000")
