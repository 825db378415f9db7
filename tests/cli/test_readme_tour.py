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
    """As written, twice in the same directory: it finds the devnet through $CBDC_DEVNET_DIR
    (no --node, no $CBDC_NODE), leaves no file (no secret key) where it is run, and a second
    run works too."""
    directory, _ = devnet_dir
    script = tour_script()
    assert "D=$(cbdc devnet dir)" in script
    work, scratch = tmp_path / "work", tmp_path / "tmp"  # where it runs; where mktemp makes W
    work.mkdir()
    scratch.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != "CBDC_NODE"},
        "TMPDIR": str(scratch),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CBDC_DEVNET_DIR": str(directory),
    }
    for run in (1, 2):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script + '\necho "tour-files $W"\n'],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"run {run}:\n{output}"
        assert "tier_limit_exceeded" in output and "refused as expected" in output
        files = Path(re.findall(r"^tour-files (.*)$", result.stdout, re.M)[-1])
        assert (files / "pay.proof.json").exists() and (files / "alice.key").exists()
        assert "valid" in output.lower()
        # The hint `audit prove` prints names the devnet's genesis file, which exists.
        hint = re.search(r"--genesis (\S+)", re.search(r"check it offline: .*", output)[0])[1]
        assert Path(hint) == directory / "genesis.json"
        assert files.parent == scratch
        assert list(work.iterdir()) == [], f"run {run} wrote into the working directory"
