"""Who may read what on the public API (node.net.auth), on a real four-validator devnet with
TLS on every channel: one call per RPC per role, the signed-request refusals (replayed,
stale, tampered), the CLI's --ca / --key / devnet defaults, the devnet's load tools, and a
validator catching up over mutual TLS.

The chain holds: an issue to both pilot institutions, wallet alice registered by institution
A (shenzhen), wallet bob registered by institution B (suzhou), and a payment A -> alice.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from devnet import network
from devnet.load import run_load
from devnet.processes import stop
from devnet.traffic import Nonces, issue_to_institutions, prepare_load, txid_of
from node.client import txbuild
from node.client.connection import NodeClient
from node.ledger.keys import KeyPair, load_key, save_key
from node.metrics import NodeMetrics, start_metrics_server
from node.net.auth import ACCESS, NODE, SYNC, Rule, sign_request
from node.net.grpc_status import parse_rpc_error
from node.net.tls import API_NAME, init_node_tls
from proto import node_pb2
from tests.cli.helpers import assert_error, ok_json, run
from tests.support.network import Net, create_net, stop_net

CHAIN_ID = network.CHAIN_ID


@dataclass
class World:
    net: Net
    members: Path          # the members bundle (the CA clients trust)
    keys: dict[str, KeyPair | None]  # role -> the key that signs its requests (None: public)
    alice: bytes
    pay_txid: bytes
    wallet_files: Path

    @property
    def api(self) -> str:
        return self.net.nodes[0].api


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("secure-devnet")
    net = create_net(directory, 4, tls=True, open_reads=False)
    net.start()
    try:
        auditor = load_key(directory / network.AUDITOR_KEY)
        access = network.access_for(net.nodes[0])
        inst_a, inst_b = (net.keys.institutions[n.name] for n in net.nodes[:2])
        alice, bob = KeyPair.generate(), KeyPair.generate()
        nonce = Nonces(7)
        with access.client(net.nodes[0].api, timeout=30) as client:
            coins = issue_to_institutions(client, net.keys, 100_000, nonce)
            client.submit_and_wait(txbuild.build_register(CHAIN_ID, inst_a, alice.public, 4, nonce=nonce()))
            client.submit_and_wait(txbuild.build_register(CHAIN_ID, inst_b, bob.public, 4, nonce=nonce()))
            pay = txbuild.build_transfer(
                CHAIN_ID, inst_a, [coins[net.nodes[0].name]], [(alice.public, 100), (inst_a.public, 99_900)],
                nonce=nonce(),
            )
            client.submit_and_wait(pay)
        files = tmp_path_factory.mktemp("wallets")
        save_key(files / "alice.key", alice)
        keys = {
            "public": None, "alice": alice, "bob": bob, "institution_a": inst_a, "institution_b": inst_b,
            "auditor": auditor, "issuer": net.keys.issuers[0],
        }
        yield World(net, directory / "tls" / "members.crt", keys, alice.public, txid_of(pay), files)
    finally:
        stop_net(net)


def _channel(world: World) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(world.members.read_bytes())
    return grpc.secure_channel(world.api, credentials, options=[("grpc.ssl_target_name_override", API_NAME)])


def _request(name: str, world: World):
    """A request for each RPC about alice (her address, her payment) or the chain."""
    return {
        "SubmitTransaction": node_pb2.SubmitTransactionRequest(tx=b"not a transaction"),
        "SubmitTransactions": node_pb2.SubmitTransactionRequest(tx=b"not a transaction"),
        "SubmitBatch": node_pb2.SubmitBatchRequest(txs=[b"not a transaction"]),
        "GetStatus": node_pb2.GetStatusRequest(),
        "GetSupply": node_pb2.GetSupplyRequest(),
        "GetTip": node_pb2.GetTipRequest(),
        "WaitTransaction": node_pb2.WaitTransactionRequest(txid=world.pay_txid, timeout_ms=1),
        "GetTransaction": node_pb2.GetTransactionRequest(txid=world.pay_txid),
        "GetUtxos": node_pb2.GetUtxosRequest(address=world.alice),
        "GetBalance": node_pb2.GetBalanceRequest(address=world.alice),
        "GetWallet": node_pb2.GetWalletRequest(address=world.alice),
        "GetBlock": node_pb2.GetBlockRequest(height=1),
        "WatchBlocks": node_pb2.WatchBlocksRequest(from_height=1),
        "GetBlocks": node_pb2.GetBlocksRequest(from_height=1, to_height=1),
        "GetSnapshot": node_pb2.GetSnapshotRequest(),
        "GetGovernance": node_pb2.GetGovernanceRequest(),
    }[name]


def _call(world: World, name: str, role: str, metadata=None) -> str:
    """'allowed', or the machine code of the refusal. A public submission of garbage is
    'allowed' when the ledger (not the authorizer) answers it."""
    full = (SYNC if name in ("GetTip", "GetBlocks", "GetSnapshot") else NODE) + name
    request = _request(name, world)
    key = world.keys[role]
    if metadata is None and key is not None:
        metadata = sign_request(key.seed, CHAIN_ID, full, request)
    with _channel(world) as channel:
        try:
            if name == "SubmitTransactions":
                stream = channel.stream_stream(full, request_serializer=lambda m: m.SerializeToString())
                list(stream(iter([request]), timeout=10, metadata=metadata))
            elif name in ("WatchBlocks", "GetBlocks", "GetSnapshot"):
                stream = channel.unary_stream(full, request_serializer=lambda m: m.SerializeToString())
                responses = stream(request, timeout=10, metadata=metadata)
                next(iter(responses))
                responses.cancel()
            else:
                call = channel.unary_unary(full, request_serializer=lambda m: m.SerializeToString())
                call(request, timeout=10, metadata=metadata)
        except grpc.RpcError as err:
            code, _ = parse_rpc_error(err)
            if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                return code
            assert code in ("malformed",), f"{name} as {role}: unexpected {err.code()} {err.details()}"
    return "allowed"


ROLES = ("public", "alice", "bob", "institution_a", "institution_b", "auditor", "issuer")
U, D, A = "unauthenticated", "permission_denied", "allowed"
# What each role gets from each rule, about alice (registered by institution A) and A's
# payment to her. Issuers (the central bank) read as auditors do.
BY_RULE = {
    Rule.PUBLIC: dict.fromkeys(ROLES, A),
    Rule.ADDRESS: {"public": U, "alice": A, "bob": D, "institution_a": A, "institution_b": D,
                   "auditor": A, "issuer": A},
    Rule.TXID: {"public": U, "alice": A, "bob": D, "institution_a": A, "institution_b": D,
                "auditor": A, "issuer": A},
    Rule.AUDITOR: {"public": U, "alice": D, "bob": D, "institution_a": D, "institution_b": D,
                   "auditor": A, "issuer": A},
}
TABLE = [(method.rsplit("/", 1)[1], rule) for method, rule in ACCESS.items()]


def test_every_rpc_of_node_and_sync_has_a_rule() -> None:
    services = node_pb2.DESCRIPTOR.services_by_name
    rpcs = {f"/{services[s].full_name}/{m.name}" for s in ("Node", "Sync") for m in services[s].methods}
    assert rpcs == set(ACCESS)


@pytest.mark.parametrize(("rpc", "rule"), TABLE, ids=[rpc for rpc, _ in TABLE])
def test_each_rpc_answers_each_role_by_its_rule(world: World, rpc: str, rule: Rule) -> None:
    got = {role: _call(world, rpc, role) for role in ROLES}
    assert got == BY_RULE[rule]


def test_an_unknown_transaction_is_for_auditors_only(world: World) -> None:
    request = node_pb2.GetTransactionRequest(txid=b"\x01" * 32)
    full = NODE + "GetTransaction"
    alice = world.keys["alice"]
    with _channel(world) as channel:
        call = channel.unary_unary(full, request_serializer=lambda m: m.SerializeToString())
        with pytest.raises(grpc.RpcError) as err:
            call(request, timeout=10, metadata=sign_request(alice.seed, CHAIN_ID, full, request))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "no such transaction" in err.value.details()


def _balance_call(world: World, metadata) -> grpc.RpcError | None:
    request = _request("GetBalance", world)
    with _channel(world) as channel:
        call = channel.unary_unary(NODE + "GetBalance", request_serializer=lambda m: m.SerializeToString())
        try:
            call(request, timeout=10, metadata=metadata)
        except grpc.RpcError as err:
            return err
    return None


def test_replayed_stale_and_tampered_requests_are_refused_and_the_node_keeps_serving(world: World) -> None:
    alice, bob = world.keys["alice"], world.keys["bob"]
    method = NODE + "GetBalance"
    request = _request("GetBalance", world)
    signed = sign_request(alice.seed, CHAIN_ID, method, request)
    assert _balance_call(world, signed) is None
    cases = {
        "replayed_request": signed,
        "stale_request": sign_request(
            alice.seed, CHAIN_ID, method, request, time_ms=int(time.time() * 1000) - 600_000
        ),
        # Signed for another method, another request, another chain, or by another key.
        "bad_request_signature": sign_request(alice.seed, CHAIN_ID, NODE + "GetUtxos", request),
    }
    other_request = node_pb2.GetBalanceRequest(address=bob.public)
    tampered = [
        sign_request(alice.seed, CHAIN_ID, method, other_request),
        sign_request(alice.seed, "another-chain", method, request),
        [(k, v) if k != "cbdc-auth-key" else (k, alice.public.hex())
         for k, v in sign_request(bob.seed, CHAIN_ID, method, request)],
        [(k, v) for k, v in signed if k != "cbdc-auth-nonce"],
        [(k, "zz" if k == "cbdc-auth-signature" else v) for k, v in signed],
    ]
    for expected, metadata in [*cases.items(), *(("bad_request_signature", m) for m in tampered)]:
        err = _balance_call(world, metadata)
        assert err is not None and err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert parse_rpc_error(err)[0] == expected, err.details()
    # Still serving: a fresh signature reads the balance.
    assert _balance_call(world, sign_request(alice.seed, CHAIN_ID, method, request)) is None
    node_log = Path(world.net.nodes[0].home, "node.log").read_text()
    assert "api call refused" in node_log and "replayed_request" in node_log


def test_the_client_signs_with_its_key_and_reads_alices_balance(world: World) -> None:
    tls = network.access_for(world.net.nodes[0]).tls
    with NodeClient(world.api, tls=tls, signer=world.keys["alice"]) as client:
        assert client.balance(world.alice).balance == 100
        assert client.wallet(world.alice).institution == world.keys["institution_a"].public
        assert client.wait(world.pay_txid, 1).status == node_pb2.TX_STATUS_COMMITTED
    with NodeClient(world.api, tls=tls) as anonymous:
        assert anonymous.status().chain_id == CHAIN_ID


def test_cli_uses_ca_and_wallet_key(world: World) -> None:
    ca = ["--ca", str(world.members)]
    node = ["--node", world.api]
    alice_key = str(world.wallet_files / "alice.key")
    from node.ledger.address import encode_address

    address = encode_address(world.alice)
    doc = ok_json(*ca, "balance", address, "--key", alice_key, *node)
    assert doc["balance"] == "100"  # 64-bit integers are strings in JSON (proto3 convention)
    # No key, and not a local devnet: the node asks for a signature (exit 1, its code).
    assert_error(run(*ca, "balance", address, *node), 1, "unauthenticated")
    # The devnet's defaults: its members bundle and its auditor key.
    env = {"CBDC_DEVNET_DIR": str(world.net.directory), "CBDC_NODE": world.api}
    assert ok_json("balance", address, env=env)["balance"] == "100"
    assert ok_json("chain", "status", env=env)["chain_id"] == CHAIN_ID


def test_cli_refuses_a_wrong_ca_and_plaintext_cleanly(world: World, tmp_path: Path) -> None:
    init_node_tls(tmp_path, KeyPair.generate().seed)  # another consortium's bundle
    wrong = run("--ca", str(tmp_path / "members.crt"), "chain", "status", "--node", world.api)
    assert_error(wrong, 3, "TLS handshake", world.api)
    assert_error(run("--insecure", "chain", "status", "--node", world.api), 3, world.api)
    missing = str(tmp_path / "missing.crt")
    assert_error(run("--ca", missing, "chain", "status", "--node", world.api), 2, "--ca")
    # The node is unharmed.
    env = {"CBDC_DEVNET_DIR": str(world.net.directory), "CBDC_NODE": world.api}
    assert int(ok_json("chain", "status", env=env)["height"]) >= 1  # 64-bit: a JSON string


def test_metrics_are_served_over_tls_only(tmp_path: Path) -> None:
    init_node_tls(tmp_path, KeyPair.generate().seed)
    server = start_metrics_server(
        "127.0.0.1:0", NodeMetrics(), certfile=str(tmp_path / "node.crt"), keyfile=str(tmp_path / "node.key")
    )
    assert server is not None
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "members.crt"))
        context.check_hostname = False  # the certificate names API_NAME, not 127.0.0.1
        with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/metrics", context=context) as reply:
            assert b"cbdc_" in reply.read()
        with pytest.raises(Exception):  # noqa: B017  (http.client reports a TLS port in several ways)
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read()
        with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/metrics", context=context) as reply:
            assert reply.status == 200  # still serving after the plaintext attempt
    finally:
        server.close()



def test_the_devnet_load_tools_work_over_tls_with_the_auditor_key(world: World) -> None:
    """What `cbdc bench devnet` and `cbdc devnet load` run (not a measurement: a few
    transactions, to show the TLS channels and the signed WatchBlocks work)."""
    access = network.access_for(world.net.nodes[0])
    with access.client(world.api, timeout=30) as client:
        txs = prepare_load(client, world.net.keys, transactions=12, wallets_per_institution=2, seed=3)
    apis = [n.api for n in world.net.nodes]
    report = asyncio.run(run_load(apis, txs, tps=12, duration_s=1, drain_s=20, access=access))
    assert report.submitted == 12 and report.committed == 12 and report.rejected == 0


def test_a_restarted_validator_catches_up_over_mutual_tls(world: World) -> None:
    net = world.net
    lagging = net.nodes[3]
    stop([lagging])
    access = network.access_for(net.nodes[0])
    inst_a = world.keys["institution_a"]
    with access.client(world.api, timeout=30) as client:
        raw = txbuild.build_register(CHAIN_ID, inst_a, KeyPair.generate().public, 4, nonce=Nonces(99)())
        height = client.submit_and_wait(raw).inclusion.height
    net.restart(lagging)
    net.wait_height(height, [lagging])
    with network.client_for(lagging) as client:
        assert client.transaction(txid_of(raw)).status == node_pb2.TX_STATUS_COMMITTED
