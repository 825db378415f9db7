"""Test PKI: consortium members' TLS material made with node.net.tls, as `cbdc node init`
and a members bundle exchange would make it, plus the bad certificates a test needs."""

from __future__ import annotations

import datetime
import os

from node.net.tls import TlsMaterial, identity_certificate, node_certificate


class Pki:
    """Identities for a set of members; `material(seed)` is one member's view (its own key
    and chain, and the bundle of every member's identity)."""

    def __init__(self, *seeds: bytes) -> None:
        self.identities = {seed: identity_certificate(seed) for seed in seeds}

    @property
    def members_pem(self) -> bytes:
        return b"".join(self.identities.values())

    def material(
        self, seed: bytes, *, expired: bool = False, chain_of: bytes | None = None
    ) -> TlsMaterial:
        """`seed`'s material; `expired` makes its node certificate a month out of date;
        `chain_of` uses another seed's certificate and key (a stolen or mixed-up chain)."""
        owner = chain_of or seed
        identity = self.identities.get(owner) or identity_certificate(owner)
        dates = {}
        if expired:
            now = datetime.datetime.now(datetime.UTC)
            dates = {
                "not_before": now - datetime.timedelta(days=60),
                "not_after": now - datetime.timedelta(days=30),
            }
        key_pem, chain_pem = node_certificate(owner, identity, **dates)
        return TlsMaterial(key_pem=key_pem, chain_pem=chain_pem, members_pem=self.members_pem)


def seeds(n: int) -> list[bytes]:
    return [os.urandom(32) for _ in range(n)]
