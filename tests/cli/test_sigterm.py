"""A command that starts node processes stops them when it is itself stopped by SIGTERM
(`timeout`, systemd, kill), not only on Ctrl-C: the nodes run in sessions of their own, so
nothing else would stop them."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from devnet.processes import DevnetRecord, is_running, stop

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_to_a_foreground_devnet_stops_its_nodes(tmp_path: Path) -> None:
    up = subprocess.Popen(
        [sys.executable, "-m", "cli", "devnet", "up", "--validators", "1", "--dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(up.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and up.poll() is None:
            if any("Ctrl-C stops every node" in line for line in lines):
                break
            time.sleep(0.2)
        record = DevnetRecord.load(tmp_path)
        assert record is not None and up.poll() is None, "the devnet did not start:\n" + "".join(lines)
        # Not the default directory: the hints say how queries find it.
        assert f"`cbdc chain status --dir {tmp_path}`" in "".join(lines)
        nodes = record.nodes
        assert nodes and all(is_running(node) for node in nodes)
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=40)
        reader.join(timeout=5)
        out = "".join(lines)
        assert "stopping nodes" in out
        # The last status line ends before it (into a pipe rich left it open).
        assert any(line.startswith("stopping nodes...") for line in lines), out
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(is_running(node) for node in nodes):
            time.sleep(0.1)
        assert not any(is_running(node) for node in nodes), f"nodes outlived the supervisor:\n{out}"
    finally:
        if up.poll() is None:
            up.kill()
        record = DevnetRecord.load(tmp_path)
        if record is not None:
            stop(record.nodes, timeout=5)
