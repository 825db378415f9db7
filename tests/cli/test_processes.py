"""devnet.processes: what counts as a running node, and that stop() leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devnet import processes
from devnet.processes import (
    NodeRecord,
    free_ports,
    is_running,
    kill,
    port_is_free,
    signal_node,
    stop,
    wait_exit,
)


def _child(tmp_path: Path) -> tuple[NodeRecord, subprocess.Popen]:
    # A child of ours whose command line is not (yet) `cbdc node start`: what a freshly
    # spawned node looks like between fork() and exec().
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    node = NodeRecord("n1", "validator", str(tmp_path), "127.0.0.1:1", "127.0.0.1:2", pid=proc.pid)
    return node, proc


def test_a_spawned_child_not_yet_exec_ed_counts_as_running_and_is_stopped(tmp_path: Path) -> None:
    node, proc = _child(tmp_path)
    try:
        assert is_running(node)
        stop([node], timeout=5)
        assert proc.wait(timeout=5) is not None
        assert node.pid == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_signalled_child_reports_the_signal_it_died_of(tmp_path: Path) -> None:
    node, proc = _child(tmp_path)
    try:
        signal_node(node, signal.SIGTERM)
        assert wait_exit(node, 10) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()


def test_kill_leaves_no_process_and_no_pid(tmp_path: Path) -> None:
    node, proc = _child(tmp_path)
    pid = node.pid
    try:
        kill(node)
        assert node.pid == 0
        assert not Path(f"/proc/{pid}").exists()  # killed and reaped: not even a zombie
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_process_that_is_neither_a_node_nor_our_child_is_not_running(tmp_path: Path) -> None:
    node = NodeRecord("n1", "validator", str(tmp_path), "127.0.0.1:1", "127.0.0.1:2", pid=os.getppid())
    assert not is_running(node)
    node.pid = 0
    assert not is_running(node)


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = free_ports(40)
    assert len(set(ports)) == 40
    assert all(1024 < p < low for p in ports)  # outgoing connections never take these
    for port in ports:
        assert port_is_free(f"127.0.0.1:{port}")


def test_free_ports_never_hands_out_a_port_twice() -> None:
    # Two asks before anything binds (a test's metrics ports, then the network's own) must
    # not share a port: 400 asks of 8 draw 3,200 ports from ~22,000, where a memoryless
    # random choice repeats one about 230 times.
    asked = [port for _ in range(400) for port in free_ports(8)]
    assert len(set(asked)) == len(asked)


def test_free_ports_falls_back_to_the_kernel_without_repeating_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # When random tries keep failing (ports below the ephemeral range nearly all busy, or all
    # handed out), free_ports binds port 0; the kernel may then pick a port handed out earlier.
    earlier = free_ports(1)[0]

    class AlwaysEarlier:  # every random try draws a handed-out port: straight to the fallback
        def randrange(self, start: int, stop: int) -> int:
            return earlier

    class KernelPicksEarlierFirst(socket.socket):
        redirected = False

        def bind(self, address: tuple[str, int]) -> None:  # type: ignore[override]
            host, port = address
            if port == 0 and not KernelPicksEarlierFirst.redirected:
                KernelPicksEarlierFirst.redirected = True
                port = earlier  # what the kernel's own choice could have been
            super().bind((host, port))

    monkeypatch.setattr(processes.random, "SystemRandom", AlwaysEarlier)
    monkeypatch.setattr(processes.socket, "socket", KernelPicksEarlierFirst)
    ports = free_ports(2)
    assert KernelPicksEarlierFirst.redirected  # the fallback ran and was offered `earlier`
    assert earlier not in ports and len(set(ports)) == 2
