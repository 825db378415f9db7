"""The README's five-minute tour, run exactly as written against a fresh devnet."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devnet import network
from devnet.processes import stop

ROOT = Path(__file__).resolve().parents[2]


def tour_script() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- tour:.*?-->\s*```sh\n(.*?)```", text, re.S)
    assert match, "README.md lost its tour block"
    return match.group(1)


@pytest.fixture(scope="module")
def devnet_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tour-devnet")
    record = network.create(directory, 4)
    network.start(directory, record, wait_s=60)
    yield directory, record
    stop(record.nodes)


def test_readme_tour_runs_as_written(devnet_dir, tmp_path: Path) -> None:
    directory, record = devnet_dir
    script = tour_script()
    assert "D=devnet/.data" in script
    script = script.replace("D=devnet/.data", f"D={directory}", 1)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CBDC_NODE": record.nodes[0].api,
        "CBDC_DEVNET": str(directory),  # as devnet/.data would be found: its CA and auditor key
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "tier_limit_exceeded" in output and "refused as expected" in output
    assert (tmp_path / "pay.proof.json").exists()
    assert "valid" in output.lower()
