"""Votes and proposals passed on to validators that cannot hear their signer.

Validators dial each other directly and send each consensus message once. When a link is
down for good (a firewall rule; a peer entry still naming a rotated key), the validators at
its ends hear each other only through the others, and without that a cut between two
validators holding more than a third of the power, or a cut plus one faulty validator,
stops the chain. So each node announces whom it hears nothing from
(StatusAnnouncement.unheard: validators of the next height's set with no inbound stream to
it), and a node that keeps another validator's vote or proposal (consensus.host.Heard)
sends it on to the validators that announced they cannot hear its signer. With every link
up nothing is sent. (CometBFT gossips every vote to the peers that lack it, for the same
reason; here only the peers that say so get it.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from consensus.validators import ValidatorSet
from proto import node_pb2


class PassOn:
    def __init__(
        self,
        send: Callable[[bytes, node_pb2.PeerMessage], bool],
        deciding: Callable[[], ValidatorSet],
        own_key: bytes,
    ) -> None:
        """`send(peer, message)` queues a message for one peer; `deciding()` is the set
        deciding the next height."""
        self._send = send
        self._deciding = deciding
        self._own_key = own_key
        self._unheard: dict[bytes, frozenset[bytes]] = {}  # peer -> validators it cannot hear

    def unheard(self, inbound: Iterable[bytes]) -> list[bytes]:
        """What to announce: validators of the deciding set, other than us, with no inbound
        stream (`inbound`: the peers whose streams to us are up)."""
        hearing = set(inbound) | {self._own_key}
        return sorted(v.public_key for v in self._deciding().validators if v.public_key not in hearing)

    def on_status(self, peer: bytes, unheard: Iterable[bytes]) -> None:
        """A peer announced whom it cannot hear (an empty list: everyone)."""
        cannot = frozenset(unheard)
        if cannot:
            self._unheard[peer] = cannot
        else:
            self._unheard.pop(peer, None)

    def deaf_to(self, signer: bytes) -> list[bytes]:
        """Validators of the deciding set that announced they cannot hear `signer`."""
        if not self._unheard:
            return []  # every link up: the usual case, for every vote
        validators = self._deciding()
        return [
            peer for peer, cannot in self._unheard.items()
            if signer in cannot and peer != signer and peer in validators
        ]

    def pass_on(self, signer: bytes, message: node_pb2.PeerMessage) -> int:
        """Send `message` (signed by `signer`) to the validators that cannot hear it;
        returns how many."""
        return sum(1 for peer in self.deaf_to(signer) if self._send(peer, message))
