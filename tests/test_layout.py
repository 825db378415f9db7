"""The suite tests the checkout it sits in: every product package is imported from here.

Test packages are named like the product packages (tests/node, tests/consensus, ...). Were
tests/ itself not a package, pytest would put tests/ on sys.path and `import node` would
find tests/node, so the product code would come in through whatever tree the virtualenv's
editable install points at: a run in one checkout would silently test another.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


PACKAGES = [
    "node", "node.ledger", "node.net", "node.net.peers", "node.client", "consensus", "proto", "cli", "devnet",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_product_packages_come_from_this_checkout(package: str) -> None:
    module = importlib.import_module(package)
    origin = Path(module.__file__).resolve()
    assert origin.is_relative_to(CHECKOUT), f"{package} imported from {origin}, not from {CHECKOUT}"
    assert not origin.is_relative_to(CHECKOUT / "tests"), f"{package} resolved to the test package {origin}"
