"""The project as an operator installs it: a wheel built from the source tree, installed
(not editable) into a fresh virtual environment, runs a devnet, the README's tour and a
snapshot end to end, from a directory outside the source tree.

The wheel is built without network access (no build isolation: this environment's
setuptools) and installed without its dependencies; the fresh environment reaches the
dependencies through a path entry to this environment's site-packages, where the project
itself is only an editable-install hook that such a path entry never runs. So every module
of the project comes from the wheel (checked), and a file the wheel lacks fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from devnet.processes import DevnetRecord, stop
from tests.cli.test_readme_tour import tour_script

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cli", "node", "consensus", "proto", "devnet")


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} -> {result.returncode}\n{output}"
    return result.stdout


def _source_copy(target: Path) -> Path:
    """The tracked files of the working tree (as edited, not as committed)."""
    listed = _run(["git", "ls-files", "-z"], cwd=ROOT).split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv with the wheel installed."""
    work = tmp_path_factory.mktemp("packaging")
    source = _source_copy(work / "src")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(work / "dist"), str(source)], cwd=work)
    wheel = next((work / "dist").glob("cbdc-*.whl"))
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", "--without-pip", str(work / "venv")], cwd=work)
    python = work / "venv" / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
         cwd=work)
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   cwd=work).strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "_cbdc_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    return work / "venv" / "bin"


def _env(bin_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CBDC_NODE")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def test_the_installed_wheel_runs_a_devnet_the_tour_and_a_snapshot(installed: Path, tmp_path: Path) -> None:
    env = _env(installed)
    names = ", ".join(PACKAGES)
    code = f"import {names}; print(*(m.__file__ for m in ({names},)))"
    where = _run([str(installed / "python"), "-c", code], cwd=tmp_path, env=env)
    for path in where.split():
        assert str(installed.parent) in path and str(ROOT) not in path, path

    devnet = tmp_path / "devnet"
    _run(["cbdc", "devnet", "up", "--detach", "--dir", str(devnet)], cwd=tmp_path, env=env)
    try:
        record = DevnetRecord.load(devnet)
        assert record is not None
        api = record.nodes[0].api
        # The tour finds the devnet through $CBDC_DEVNET_DIR (`cbdc devnet dir`), as a user would.
        env = _env(installed, CBDC_DEVNET_DIR=str(devnet), TMPDIR=str(tmp_path))
        output = _run(["bash", "-euo", "pipefail", "-c", tour_script()], cwd=tmp_path, env=env, timeout=300)
        assert "refused as expected" in output
        _run(["cbdc", "node", "snapshot", "create", "--node", api, "--out", str(tmp_path / "s.snap")],
             cwd=tmp_path, env=env)
        assert (tmp_path / "s.snap").stat().st_size > 0
    finally:
        _run(["cbdc", "devnet", "down", "--dir", str(devnet)], cwd=tmp_path, env=env)
        record = DevnetRecord.load(devnet)
        if record is not None:
            stop(record.nodes)
