"""Consensus tests: the soak marker is opt-in."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# This directory is named like the package it tests. tests/ is on sys.path (pytest's
# rootdir-less "prepend" import mode puts it there for tests/conftest.py), so without the
# project root ahead of it, `import consensus` under a bare `pytest` would find this
# directory as a namespace package before the editable install's finder is consulted.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The soak marker is "excluded from the default suite": skip it unless -m selects it.
    if "soak" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="soak run: select with -m soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
