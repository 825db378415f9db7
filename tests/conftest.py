"""Shared pytest configuration."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# CI gets a fixed, bounded profile; a developer may choose another with HYPOTHESIS_PROFILE.
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The soak marker is "excluded from the default suite": skip it unless -m selects it
    # (consensus: 10,000 schedules; faults: long real-process runs, see `cbdc devnet chaos`).
    if "soak" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="soak run: select with -m soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _grpc_aio_engine_kept_up() -> None:
    """Keep grpc.aio's engine initialised for the whole session.

    grpc.aio starts one poller thread per process when the first aio channel or server is
    made and shuts it down (joining that thread) when the last one is collected. When that
    last object is collected by the garbage collector in the middle of a later test, after
    its event loop has closed, the join can wait forever on a poller that never wakes (seen
    as the suite hanging in an unrelated hypothesis test, the main thread in Thread.join).
    One reference held from the start means the shutdown never runs mid-session; the poller
    is a daemon thread, so the process still exits. Test-only: a node process makes its
    servers once and closes them in order."""
    from grpc._cython import cygrpc

    cygrpc.init_grpc_aio()


@pytest.fixture
def cli_devnet_dir(net: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """$CBDC_DEVNET_DIR set to the directory of the module's `net` (tests.support.network),
    so the CLI reaches `--node` as that devnet says: plaintext, or TLS against its members
    bundle with its auditor key signing the reads."""
    monkeypatch.setenv("CBDC_DEVNET_DIR", str(net.directory))
