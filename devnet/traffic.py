"""Real payment traffic for a devnet: issuing, registering and funding wallets, and
pre-signing independent transfers (each spends an output nobody else spends, so any
number can be in flight at once: what an open-loop load generator needs).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from devnet.network import CHAIN_ID, DevnetKeys
from node.client import txbuild
from node.client.connection import NodeClient, Rejected
from node.ledger.crypto import sha256
from node.ledger.keys import KeyPair
from node.ledger.types import OutPoint
from proto import ledger_pb2, node_pb2

YUAN = 100  # fen
# A funding transaction pays at most this many outputs (the genesis default cap is 128).
_OUTPUTS_PER_TX = 100


def txid_of(raw_tx: bytes) -> bytes:
    return sha256(ledger_pb2.Transaction.FromString(raw_tx).body)


@dataclass
class Wallet:
    key: KeyPair
    tier: int
    institution: KeyPair
    coins: list[tuple[OutPoint, int]] = field(default_factory=list)  # spendable (outpoint, fen)


class Nonces:
    """Distinct nonces so two otherwise equal transactions never share an id."""

    def __init__(self, seed: int) -> None:
        self._next = seed << 32

    def __call__(self) -> int:
        self._next += 1
        return self._next


def issue_to_institutions(
    client: NodeClient, keys: DevnetKeys, amount_each: int, nonce: Nonces
) -> dict[str, OutPoint]:
    """The central bank issues `amount_each` fen to every institution (2 of 3 issuers sign)."""
    outputs = [(k.public, amount_each) for k in keys.institutions.values()]
    raw = txbuild.build_issue(CHAIN_ID, outputs, keys.issuers[:2], nonce=nonce())
    client.submit_and_wait(raw)
    txid = txid_of(raw)
    return {site: OutPoint(txid, i) for i, site in enumerate(keys.institutions)}


def register_wallets(
    client: NodeClient, institution: KeyPair, tiers: list[int], nonce: Nonces
) -> list[Wallet]:
    wallets = [Wallet(KeyPair.generate(), tier, institution) for tier in tiers]
    txids = [
        client.submit(txbuild.build_register(CHAIN_ID, institution, w.key.public, w.tier, nonce=nonce()))
        for w in wallets
    ]
    for txid in txids:
        _expect_committed(client, txid)
    return wallets


def fund(
    client: NodeClient,
    institution: KeyPair,
    coin: tuple[OutPoint, int],
    payouts: list[tuple[Wallet, int]],
    nonce: Nonces,
) -> tuple[OutPoint, int]:
    """Pay each (wallet, fen) from the institution's `coin`, in as many transactions as the
    output cap needs, chained through the change. Returns the institution's change coin."""
    for start in range(0, len(payouts), _OUTPUTS_PER_TX):
        chunk = payouts[start : start + _OUTPUTS_PER_TX]
        outpoint, value = coin
        total = sum(amount for _, amount in chunk)
        if total >= value:
            raise ValueError("the institution's coin cannot cover the funding")
        outputs = [(w.key.public, amount) for w, amount in chunk] + [(institution.public, value - total)]
        raw = txbuild.build_transfer(CHAIN_ID, institution, [outpoint], outputs, nonce=nonce())
        client.submit_and_wait(raw)
        txid = txid_of(raw)
        for i, (wallet, amount) in enumerate(chunk):
            wallet.coins.append((OutPoint(txid, i), amount))
        coin = (OutPoint(txid, len(chunk)), value - total)
    return coin


def presigned_transfers(
    wallets: list[Wallet], amount: int, rng: random.Random, nonce: Nonces
) -> Iterator[bytes]:
    """One transfer per coin: the owner pays `amount` to another wallet, change back to itself.
    Every transaction spends a distinct existing coin, so they are independent."""
    for wallet in wallets:
        coins, wallet.coins = wallet.coins, []
        for outpoint, value in coins:
            payee = wallets[rng.randrange(len(wallets))]
            if payee is wallet:
                payee = wallets[(wallets.index(wallet) + 1) % len(wallets)]
            outputs = [(payee.key.public, amount)]
            if value > amount:
                outputs.append((wallet.key.public, value - amount))
            yield txbuild.build_transfer(CHAIN_ID, wallet.key, [outpoint], outputs, nonce=nonce())


def prepare_load(
    client: NodeClient,
    keys: DevnetKeys,
    *,
    transactions: int,
    wallets_per_institution: int = 50,
    seed: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> list[bytes]:
    """Register and fund enough tier-1 wallets for `transactions` independent transfers,
    then pre-sign them (none of this is timed by a benchmark)."""
    rng = random.Random(seed)
    nonce = Nonces(rng.getrandbits(24))
    sites = list(keys.institutions)
    coin_value = 10 * YUAN
    per_wallet = -(-transactions // (wallets_per_institution * len(sites)))
    issued = issue_to_institutions(client, keys, coin_value * (transactions + len(sites)) * 2, nonce)
    wallets: list[Wallet] = []
    for site in sites:
        institution = keys.institutions[site]
        mine = register_wallets(client, institution, [1] * wallets_per_institution, nonce)
        progress(f"{site}: registered {len(mine)} wallets, funding {per_wallet} coins each")
        payouts = [(w, coin_value) for _ in range(per_wallet) for w in mine]
        fund(
            client, institution, (issued[site], coin_value * (transactions + len(sites)) * 2), payouts, nonce
        )
        wallets.extend(mine)
    txs = list(presigned_transfers(wallets, 1 * YUAN, rng, nonce))
    rng.shuffle(txs)
    return txs[:transactions]


def _expect_committed(client: NodeClient, txid: bytes) -> None:
    outcome = client.wait(txid, 30)
    if outcome.status != node_pb2.TX_STATUS_COMMITTED:
        raise Rejected(
            outcome.rejection.code or "timeout", outcome.rejection.message or "not committed in 30 s"
        )
