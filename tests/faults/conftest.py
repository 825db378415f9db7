"""The fault tests' devnet, one per test module: four validator processes behind per-link
proxies (harness.start_fault_net), healed, stopped and every store audited offline at the end.

A module sets how many payments to pre-sign with a module-level `PAYMENTS` (more are signed
on demand: FaultNet.load); a module that needs more set-up overrides `net` with a fixture of
the same name that takes this one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import FaultNet, start_fault_net, stop_fault_net


@pytest.fixture(scope="module")
def net(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultNet]:
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    net = start_fault_net(tmp_path_factory.mktemp(name), payments=getattr(request.module, "PAYMENTS", 400))
    yield net
    net.proxies.heal()  # a test that failed while links were cut must not fail the audit too
    problems = stop_fault_net(net)
    assert not problems, "\n".join(problems)
