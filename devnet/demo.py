"""`cbdc devnet demo`: every kind of transaction on a running devnet, then steady payments.

The central bank issues to the institutions (2 of 3 issuer keys sign), each institution
registers wallets of several tiers and funds them, one payment over a tier limit is refused
with its reason, and then wallets pay each other continuously (with an occasional
redemption) until stopped.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from pathlib import Path

from devnet.network import CHAIN_ID, Access, load_keys
from devnet.traffic import YUAN, Nonces, Wallet, fund, issue_to_institutions, register_wallets, txid_of
from node.client import txbuild
from node.client.connection import NodeClient, Rejected
from node.ledger.types import OutPoint
from proto import node_pb2

TIER_NAMES = {1: "fully verified", 2: "verified", 3: "basic", 4: "anonymous"}
# (tier, yuan each wallet of the tier starts with)
DEMO_WALLETS = ((1, 20_000), (2, 5_000), (4, 1_000))
ISSUE_YUAN = 1_000_000


def _fmt(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} yuan"


def run(
    directory: Path,
    apis: list[str],
    *,
    say: Callable[[str], None] = print,
    stop: threading.Event | None = None,
    rounds: int | None = None,
    pause_s: float = 0.3,
    seed: int | None = None,
    access: Access | None = None,
) -> dict[str, int]:
    """Drive the demo; returns counts of what was committed and rejected. `access` is the
    devnet's TLS and auditor key (devnet.network.access_for); None: plaintext, unsigned."""
    stop = stop or threading.Event()
    rng = random.Random(seed)
    nonce = Nonces(rng.getrandbits(24))
    keys = load_keys(directory)
    clients = [
        access.client(api, 30) if access is not None else NodeClient(api, timeout=30) for api in apis
    ]
    counts = {"committed": 0, "rejected": 0, "redeemed_fen": 0}
    try:
        first = clients[0]
        issued = issue_to_institutions(first, keys, ISSUE_YUAN * YUAN, nonce)
        counts["committed"] += 1
        say(
            f"issue     central bank -> {len(issued)} institutions, {ISSUE_YUAN:,} yuan each "
            f"(signed by 2 of {len(keys.issuers)} issuer keys)"
        )
        wallets: list[Wallet] = []
        coins: dict[str, tuple[OutPoint, int]] = {}
        for n, (site, institution) in enumerate(keys.institutions.items()):
            client = clients[n % len(clients)]
            mine = register_wallets(client, institution, [tier for tier, _ in DEMO_WALLETS], nonce)
            counts["committed"] += len(mine)
            say(
                f"register  {site}: {len(mine)} wallets, tiers "
                + ", ".join(TIER_NAMES[t] for t, _ in DEMO_WALLETS)
            )
            payouts = [(w, yuan * YUAN) for w, (_, yuan) in zip(mine, DEMO_WALLETS, strict=True)]
            coins[site] = fund(client, institution, (issued[site], ISSUE_YUAN * YUAN), payouts, nonce)
            counts["committed"] += 1
            say(f"fund      {site}: " + ", ".join(_fmt(a) for _, a in payouts))
            wallets.extend(mine)
        _show_tier_rejection(first, wallets, nonce, say)
        counts["rejected"] += 1
        for round_no in itertools.count(1):
            if stop.is_set() or (rounds is not None and round_no > rounds):
                break
            done, refused = _pay_round(clients, wallets, rng, nonce)
            counts["committed"] += done
            counts["rejected"] += refused
            if round_no % 5 == 0:
                site = rng.choice(list(keys.institutions))
                coins[site], amount = _redeem(first, keys.institutions[site], coins[site], nonce)
                counts["committed"] += 1
                counts["redeemed_fen"] += amount
                say(f"redeem    {site} returns {_fmt(amount)} to the central bank")
            say(
                f"pay       round {round_no}: {done} payments committed"
                + (f", {refused} refused" if refused else "")
            )
            stop.wait(pause_s)
    finally:
        for client in clients:
            client.close()
    return counts


def _show_tier_rejection(
    client: NodeClient, wallets: list[Wallet], nonce: Nonces, say: Callable[[str], None]
) -> None:
    """A fully verified wallet tries to pay an anonymous wallet past its balance cap."""
    payer = next(w for w in wallets if w.tier == 1)
    payee = next(w for w in wallets if w.tier == 4)
    outpoint, value = payer.coins[0]
    amount = 12_000 * YUAN  # the anonymous tier holds at most 10,000 yuan
    outputs = [(payee.key.public, amount), (payer.key.public, value - amount)]
    raw = txbuild.build_transfer(CHAIN_ID, payer.key, [outpoint], outputs, nonce=nonce())
    try:
        client.submit_and_wait(raw)
    except Rejected as err:
        say(f"rejected  {_fmt(amount)} to an anonymous wallet: {err.code}: {err.message}")
        return
    raise Rejected("demo_failed", "a payment over the payee's balance cap was accepted")


def _pay_round(
    clients: list[NodeClient], wallets: list[Wallet], rng: random.Random, nonce: Nonces
) -> tuple[int, int]:
    """Every wallet with a coin pays another a small amount; wait for all to settle."""
    submitted: list[tuple[bytes, Wallet, Wallet, int, int, NodeClient]] = []
    refused = 0
    for i, payer in enumerate(wallets):
        if not payer.coins:
            continue
        outpoint, value = payer.coins.pop()
        payee = wallets[(i + 1 + rng.randrange(len(wallets) - 1)) % len(wallets)]
        amount = min(value, rng.randint(1, 200))
        outputs = [(payee.key.public, amount)] + (
            [(payer.key.public, value - amount)] if value > amount else []
        )
        raw = txbuild.build_transfer(CHAIN_ID, payer.key, [outpoint], outputs, nonce=nonce())
        client = clients[i % len(clients)]
        try:
            client.submit(raw)
        except Rejected:
            refused += 1
            payer.coins.append((outpoint, value))
            continue
        submitted.append((txid_of(raw), payer, payee, amount, value, client))
    done = 0
    for txid, payer, payee, amount, value, client in submitted:
        outcome = client.wait(txid, 30)
        if outcome.status == node_pb2.TX_STATUS_COMMITTED:
            done += 1
            payee.coins.append((OutPoint(txid, 0), amount))
            if value > amount:
                payer.coins.append((OutPoint(txid, 1), value - amount))
        else:
            refused += 1
    return done, refused


def _redeem(
    client: NodeClient, institution, coin: tuple[OutPoint, int], nonce: Nonces
) -> tuple[tuple[OutPoint, int], int]:
    outpoint, value = coin
    amount = 100 * YUAN
    raw = txbuild.build_redeem(
        CHAIN_ID, institution, [outpoint], amount, [(institution.public, value - amount)], nonce=nonce()
    )
    client.submit_and_wait(raw)
    return (OutPoint(txid_of(raw), 0), value - amount), amount
