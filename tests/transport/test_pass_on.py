"""node/net/pass_on.py: whom a node says it cannot hear, and to whom it passes a message on."""

from __future__ import annotations

from consensus.validators import ValidatorSet
from node.net.pass_on import PassOn
from proto import node_pb2

A, B, C, D, OBSERVER = (bytes([i]) * 32 for i in range(1, 6))
VOTE = node_pb2.PeerMessage(vote=b"a signed vote")


def pass_on(own: bytes = C) -> tuple[PassOn, list[tuple[bytes, node_pb2.PeerMessage]]]:
    sent: list[tuple[bytes, node_pb2.PeerMessage]] = []
    deciding = ValidatorSet([(A, 10), (B, 10), (C, 10), (D, 10)])
    return PassOn(lambda peer, msg: sent.append((peer, msg)) or True, lambda: deciding, own), sent


def test_a_node_says_it_cannot_hear_the_validators_with_no_stream_to_it():
    node, _ = pass_on(own=A)
    assert node.unheard([C, D, OBSERVER]) == [B]
    assert node.unheard([B, C, D]) == []


def test_with_every_link_up_nothing_is_passed_on():
    node, sent = pass_on()
    for peer in (A, B, D):
        node.on_status(peer, [])
    assert node.pass_on(A, VOTE) == 0 and sent == []


def test_a_message_goes_to_the_validators_that_cannot_hear_its_signer_and_no_one_else():
    node, sent = pass_on()
    node.on_status(A, [B])  # a and b cannot hear each other
    node.on_status(B, [A])
    node.on_status(OBSERVER, [A, B, C, D])  # not a validator: follows by commits
    assert node.pass_on(B, VOTE) == 1 and sent == [(A, VOTE)]
    assert node.pass_on(D, VOTE) == 0
    node.on_status(A, [])  # the link is back
    sent.clear()
    assert node.pass_on(B, VOTE) == 0 and sent == []


def test_a_peer_that_cannot_hear_itself_is_not_sent_its_own_message():
    node, sent = pass_on()
    node.on_status(A, [A, B])  # nonsense from a peer: its own key listed
    assert node.pass_on(A, VOTE) == 0 and sent == []
