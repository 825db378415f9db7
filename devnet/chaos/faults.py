"""The fault scheduler: random faults on a running devnet, one at a time, with restarts.

Faults: SIGKILL + restart of a validator (sometimes restarted with a crash point armed, so it
dies again inside the WAL write, between signing and sending, or inside the block's write
batch), SIGSTOP beyond the consensus timeouts + SIGCONT, partitions (2|2 and 1|3) through the
per-link TCP proxies of devnet.proxy, and delay/jitter/connection loss on every link. The
caller lets the network recover (`settle`) before each `step`, so mostly one validator of four
is out at a time; a node restarted with a crash point may die again during the next fault,
and a 2|2 split halts the chain by design until it heals.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

from devnet import network
from devnet.chaos.report import ChaosReport
from devnet.processes import DevnetRecord, NodeRecord, is_running, kill, signal_node, spawn, wait_exit
from devnet.proxy import LinkProxies
from node.testing.faults import CRASH_ENV, CRASH_EXIT_CODE, CRASH_POINTS


class Chaos:
    """Random faults on a running devnet, one at a time, with restarts."""

    def __init__(
        self,
        record: DevnetRecord,
        proxies: LinkProxies | None,
        report: ChaosReport,
        rng: random.Random,
        say: Callable[[str], None],
        directory: Path | None = None,
    ) -> None:
        self.directory = directory
        self.record = record
        self.proxies = proxies
        self.report = report
        self.rng = rng
        self.say = say

    def note(self, text: str) -> None:
        self.report.log.append(text)
        self.say(text)

    def record_changed(self) -> None:
        """Keep devnet.json's pids current, so `cbdc devnet status|down` see the restarts."""
        if self.directory is not None:
            self.record.save(self.directory)

    def live_apis(self) -> list[str]:
        return [n.api for n in self.record.nodes if is_running(n)]

    def revive(self) -> None:
        """Restart every node that is not running (a crash point may have fired)."""
        for node in self.record.nodes:
            if node.pid and not is_running(node):
                status = wait_exit(node, 1)
                if status == CRASH_EXIT_CODE:
                    self.report.crash_point_exits += 1
                    self.note(f"{node.name} exited at its crash point; restarting it")
                node.pid = 0
            if not node.pid:
                spawn(node)
                self.report.restarts += 1
                self.record_changed()

    def settle(self, timeout: float = 30.0) -> None:
        """Until every node is up and within one block of the highest (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.revive()
            heights = [network.node_height(n) for n in self.record.nodes]
            if None not in heights and max(heights) - min(heights) <= 1:  # type: ignore[type-var,operator]
                return
            time.sleep(0.3)

    def step(self) -> None:
        kinds = ["kill", "kill", "crash", "stop"]
        if self.proxies is not None:
            kinds += ["partition", "isolate", "degrade"]
        getattr(self, f"_{self.rng.choice(kinds)}")()

    def _victim(self) -> NodeRecord:
        return self.rng.choice(self.record.nodes)

    def _kill(self, env: dict[str, str] | None = None) -> None:
        node = self._victim()
        if not is_running(node):
            return
        kill(node)
        self.report.kills += 1
        time.sleep(self.rng.uniform(0.2, 2.0))
        spawn(node, env=env)
        self.report.restarts += 1
        self.record_changed()
        self.note(f"SIGKILL {node.name}, restarted" + (f" with {CRASH_ENV}={env[CRASH_ENV]}" if env else ""))

    def _crash(self) -> None:
        point = f"{self.rng.choice(CRASH_POINTS)}:{self.rng.randint(1, 40)}"
        self._kill({CRASH_ENV: point})

    def _stop(self) -> None:
        node = self._victim()
        if not is_running(node):
            return
        signal_node(node, signal.SIGSTOP)
        held = self.rng.uniform(2.5, 5.0)  # beyond the 1 s propose / 0.5 s vote timeouts
        time.sleep(held)
        signal_node(node, signal.SIGCONT)
        self.report.stops += 1
        self.note(f"SIGSTOP {node.name} for {held:.1f} s, SIGCONT")

    def _partition(self) -> None:
        assert self.proxies is not None
        names = [n.name for n in self.record.nodes]
        self.rng.shuffle(names)
        half = len(names) // 2
        self._split([names[:half], names[half:]])

    def _isolate(self) -> None:
        names = [n.name for n in self.record.nodes]
        lone = self.rng.choice(names)
        self._split([[lone], [n for n in names if n != lone]])

    def _split(self, groups: list[list[str]]) -> None:
        assert self.proxies is not None
        held = self.rng.uniform(2.0, 5.0)
        self.proxies.partition(*groups)
        time.sleep(held)
        self.proxies.heal()
        self.report.partitions_healed += 1
        self.note(f"partition {' | '.join(','.join(g) for g in groups)} for {held:.1f} s, healed")

    def _degrade(self) -> None:
        assert self.proxies is not None
        delay = self.rng.uniform(0.01, 0.08)
        jitter = self.rng.uniform(0.0, 0.05)
        loss = self.rng.choice([0.0, 0.001, 0.005])
        held = self.rng.uniform(3.0, 6.0)
        self.proxies.degrade(delay_s=delay, jitter_s=jitter, reset_probability=loss)
        time.sleep(held)
        self.proxies.heal()
        self.report.link_degradations += 1
        self.note(
            f"links delayed {delay * 1000:.0f} ms + jitter {jitter * 1000:.0f} ms, "
            f"connection loss {loss:.3f}/chunk for {held:.1f} s, restored"
        )

