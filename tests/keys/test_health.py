"""Honest health: the readiness checks (pure), and on real processes the gRPC health service
and /healthz turning NOT_SERVING / 503 when a validator loses its quorum of peers, and back."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devnet.processes import free_ports, spawn, stop
from node.health import STARTING, evaluate
from node.net.grpc_server import NODE_SERVICE
from tests.support.network import start_net, stop_net
from tests.support.waiting import wait_for

BASE = dict(height=7, syncing=False, linked_power=20, own_power=10, total_power=40, lag=0, max_lag_blocks=2)


def test_ready_only_with_a_quorum_caught_up_and_not_syncing() -> None:
    assert evaluate(**BASE).ready
    assert not STARTING.ready
    no_quorum = evaluate(**{**BASE, "linked_power": 10})  # 20 of 40 is not more than 2/3
    assert [c.name for c in no_quorum.failed] == ["peer_quorum"]
    assert "20 of 40" in no_quorum.failed[0].detail
    behind = evaluate(**{**BASE, "lag": 3})
    assert [c.name for c in behind.failed] == ["behind_network"]
    syncing = evaluate(**{**BASE, "syncing": True, "lag": 50})
    assert {c.name for c in syncing.failed} == {"syncing", "behind_network"}
    doc = syncing.to_json()
    assert doc["status"] == "unavailable" and doc["height"] == 7
    assert [f["check"] for f in doc["failed"]] == ["syncing", "behind_network"]
    assert evaluate(**BASE).to_json()["failed"] == []


def _healthz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _grpc_health(api: str) -> int:
    with grpc.insecure_channel(api) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=NODE_SERVICE), timeout=5).status


def test_health_follows_the_quorum_of_peers_on_real_validators(tmp_path: Path) -> None:
    ports = free_ports(4)
    net = start_net(tmp_path, config=lambda i: {"metrics": {"address": f"127.0.0.1:{ports[i]}"}})
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    try:
        watched = net.nodes[0]
        wait_for(lambda: _healthz(ports[0])[0] == 200, 30, "node 0 to report ready")
        code, doc = _healthz(ports[0])
        assert code == 200 and doc["status"] == "ok" and doc["failed"] == []
        assert _grpc_health(watched.api) == serving
        # /metrics still answers beside /healthz.
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/metrics", timeout=5) as r:
            assert b"cbdc_height" in r.read()

        stop(net.nodes[2:])  # node 0 keeps one peer: 20 of 40 voting power
        wait_for(lambda: _healthz(ports[0])[0] == 503, 60, "node 0 to report the lost quorum")
        code, doc = _healthz(ports[0])
        assert code == 503 and doc["status"] == "unavailable"
        assert [f["check"] for f in doc["failed"]] == ["peer_quorum"], doc
        # Node 1 stays up; its link may flap while the others go away (10 or 20 of 40).
        assert re.match(r"linked with (10|20) of 40 voting power", doc["failed"][0]["detail"]), doc
        assert _grpc_health(watched.api) == not_serving

        for node in net.nodes[2:]:
            spawn(node)
        wait_for(lambda: _healthz(ports[0])[0] == 200, 60, "node 0 to report ready again")
        assert _grpc_health(watched.api) == serving
    finally:
        stop_net(net)
