"""The ``dma`` command's own behaviour (the entrypoints it dispatches to are tested where they live)."""

from __future__ import annotations

import sys

import pytest

from dma import cli


def test_bench_without_its_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [name for name in sys.modules if name == "bench" or name.startswith("bench.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psutil", None)  # what an install without the bench extra looks like to import
    assert cli.main(["bench", "--quick"]) == 2
    message = capsys.readouterr().err
    assert "psutil" in message and "pip install 'dma[bench]'" in message


def test_bench_does_not_hide_other_missing_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name == "bench" or name.startswith("bench.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "bench.report", None)
    with pytest.raises(ModuleNotFoundError):
        cli.main(["bench", "--quick"])
