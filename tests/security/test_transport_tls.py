"""Mutual TLS between members (node.net.tls, node.net.peers) with real grpc.aio servers on
127.0.0.1: the TLS peer is the consensus identity, and every bad certificate is refused
cleanly while the node keeps serving its real peers."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

import grpc
import grpc.aio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from node.config import PeerConfig, write_default_config
from node.ledger.keys import KeyPair
from node.net.grpc_server import open_channel
from node.net.tls import (
    API_NAME,
    TlsError,
    identity_certificate,
    init_node_tls,
    key_from_name,
    key_name,
    peer_key,
)
from node.service import load_tls
from tests.transport.mesh import (
    CHAIN,
    Member,
    connect_all,
    dial_by_hand,
    fully_connected,
    start_member,
    stop_all,
    vote,
    wait_until,
)

from .pki import Pki, seeds


def public(seed: bytes) -> bytes:
    return KeyPair.from_seed(seed).public


def test_key_names_round_trip_and_reject_other_names() -> None:
    key = public(seeds(1)[0])
    assert key_from_name(key_name(key)) == key
    assert all(len(label) <= 63 for label in key_name(key).split("."))
    for other in (API_NAME, "localhost", key_name(key).upper(), "zz" + key_name(key)[2:], "a.b.key.cbdc"):
        assert key_from_name(other) is None


def test_a_leaf_is_bound_only_to_the_key_that_signed_it() -> None:
    a, b = seeds(2)
    pki = Pki(a, b)
    assert peer_key(pki.material(a).chain_pem) == public(a)
    # B signs a leaf that names A's key: the name says A, the signature says otherwise.
    forged = _leaf_naming(public(a), signer=b)
    assert peer_key(forged) is None
    assert peer_key(b"not a certificate") is None


def _leaf_naming(named: bytes, signer: bytes) -> bytes:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(signer)
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(key_name(named))]), critical=False)
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


async def _members(pki: Pki, chosen: list[bytes]) -> list[Member]:
    return [await start_member(seed, tls=pki.material(seed)) for seed in chosen]


def test_validators_exchange_messages_over_mutual_tls() -> None:
    async def scenario() -> None:
        chosen = seeds(3)
        members = await _members(Pki(*chosen), chosen)
        connect_all(members)
        await fully_connected(members)
        assert members[0].net.broadcast(vote(b"over tls")) == 2
        others = members[1:]
        await wait_until(lambda: all(m.inbox.votes_from(members[0].key) == [b"over tls"] for m in others))
        await stop_all(members)

    asyncio.run(scenario())


def test_a_certificate_of_another_member_is_refused_by_the_dialler() -> None:
    """The dialler checks the certificate under the key it expects: member B answering at
    the address configured for A fails the TLS handshake itself."""

    async def scenario() -> None:
        t, a, b = seeds(3)
        pki = Pki(t, a, b)
        dialler, genuine, impostor = await _members(pki, [t, a, b])
        dialler.net.update_peers([PeerConfig(impostor.address, public(a))])  # A's key, B's address
        await wait_until(
            lambda: any(p.last_error for p in dialler.net.peer_states()), what="a failed dial to the impostor"
        )
        state = dialler.net.peer_states()[0]
        assert not state.outbound and state.connects == 0
        assert not impostor.net.inbound_peers()
        await stop_all([dialler, genuine, impostor])  # each server stopped on its own loop

    asyncio.run(scenario())


def _refused_rpc(channel: grpc.aio.Channel) -> grpc.aio.AioRpcError:
    async def attempt() -> grpc.aio.AioRpcError:
        connect = channel.stream_stream("/cbdc.node.v1.Peer/Connect")
        call = connect()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await asyncio.wait_for(call.read(), 5)
        return err.value

    return attempt()  # type: ignore[return-value]


@pytest.mark.parametrize("case", ["stranger", "expired", "plaintext"])
def test_bad_client_certificates_are_refused_and_the_node_keeps_serving(case: str) -> None:
    """A non-member (a certificate no member identity signed), an expired node certificate,
    and a plaintext client: each fails the TLS handshake; a real peer connects right after."""

    async def scenario() -> None:
        server_seed, peer_seed, stranger_seed = seeds(3)
        pki = Pki(server_seed, peer_seed)
        server = await start_member(server_seed, tls=pki.material(server_seed))
        server.net.update_peers([])
        if case == "plaintext":
            channel = grpc.aio.insecure_channel(server.address)
        else:
            if case == "expired":
                material = pki.material(peer_seed, expired=True)
            else:
                material = pki.material(stranger_seed)
            credentials = material.channel_credentials()
            channel = open_channel(server.address, 1 << 20, credentials, key_name(server.key))
        async with channel:
            err = await _refused_rpc(channel)
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert not server.net.inbound_peers()
        # The node keeps serving: the real peer connects over mutual TLS.
        peer = await start_member(peer_seed, tls=pki.material(peer_seed))
        server.net.update_peers([peer.peer_config()])
        peer.net.update_peers([server.peer_config()])
        await fully_connected([server, peer])
        await stop_all([server, peer])

    asyncio.run(scenario())


def test_key_a_certificate_with_key_b_handshake_is_refused() -> None:
    """B presents A's certificate (both members, both peers of the server) and proves B's key
    in the handshake: the server refuses the stream, logs and counts it, and still accepts B
    with B's own certificate."""

    async def scenario() -> None:
        s, a, b = seeds(3)
        pki = Pki(s, a, b)
        server = await start_member(s, tls=pki.material(s))
        peer_b = await start_member(b, tls=pki.material(b))
        peer_a = await start_member(a, tls=pki.material(a))
        server.net.update_peers([peer_a.peer_config(), peer_b.peer_config()])
        mixed = pki.material(b, chain_of=a)
        credentials = mixed.channel_credentials()
        async with open_channel(server.address, 1 << 20, credentials, key_name(server.key)) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                call = await dial_by_hand(ch, b, server, CHAIN)
                await call.read()
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.value.details().startswith("tls_identity:")
        assert server.net.metrics.dropped_count("tls_identity") == 1
        assert public(b) not in server.net.inbound_peers()
        peer_b.net.update_peers([server.peer_config()])
        await wait_until(lambda: public(b) in server.net.inbound_peers(), what="B's own stream")
        await stop_all([server, peer_a, peer_b])

    asyncio.run(scenario())


def test_a_node_refuses_to_start_with_a_certificate_of_another_key(tmp_path: Path) -> None:
    mine, other = seeds(2)
    config = write_default_config(tmp_path)
    init_node_tls(tmp_path / "tls", other)
    with pytest.raises(TlsError, match="is not bound to this node's key"):
        load_tls(config, KeyPair.from_seed(mine).public)
    (tmp_path / "tls" / "node.crt").unlink()
    with pytest.raises(TlsError, match="does not exist"):
        load_tls(config, KeyPair.from_seed(mine).public)
    insecure = write_default_config(tmp_path, tls={"insecure": True})
    assert load_tls(insecure, KeyPair.from_seed(mine).public) is None
    assert identity_certificate(mine) != identity_certificate(other)
