"""Where a transaction's finality latency goes, from what the load generator can see.

A transaction's latency (scheduled time to commit seen) is cut at the three moments the
client observes, plus the one every block carries, its header time (the proposer's clock when
it built the block; every process here shares one machine and one clock):

    queued      scheduled -> the SubmitBatch call carrying it is made (the client's own queue)
    admission   call made -> its answer arrives (the node decoded, verified, checked, pooled it)
    to_block    answered -> a proposer built the block that includes it (waiting in mempools,
                gossip to the proposer, blocks built meanwhile that left it out)
    finality    built -> the block is seen committed (proposal, two vote rounds, execution,
                the synced commit, the WatchBlocks stream)

For the slowest 1% these say which part of the pipeline a tail comes from. `left_out` counts
the blocks built after the transaction was admitted that did not include it, and how many of
those its own node (the one it was submitted to) proposed: a proposer that had it and left it
out, against one that had not heard of it yet.

With the watched validator's logged phases of each height (devnet.height_log), each group
also gets the phases of the heights that carried it and of the heights just before those
(the ones its transactions waited on): which step of consensus a slow height spent its time in.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from statistics import median

# The latency percentile from which a transaction counts as "the tail".
TAIL_FROM = 0.99


@dataclass(slots=True, frozen=True)
class Submission:
    node: int  # index of the node it was submitted to
    due: float  # time.monotonic() of its scheduled moment
    called: float  # the SubmitBatch call carrying it was made
    answered: float  # that call's answer arrived


@dataclass(slots=True, frozen=True)
class SeenBlock:
    height: int
    built: float  # header time, on the monotonic clock
    proposer: int  # index of the proposing node; -1 if none of ours
    seen: float  # the WatchBlocks stream delivered it
    txs: int = 0


def breakdown(
    submissions: dict[bytes, Submission],
    included: dict[bytes, int],
    blocks: list[SeenBlock],
    phases: dict[int, dict[str, float | None]] | None = None,
) -> dict:
    """Component medians for every committed transaction and for the slowest 1%, with each
    component's share of the group's total latency. `included`: txid -> height; `phases`:
    height -> {phase: ms} as one validator logged them."""
    by_height = {b.height: b for b in blocks}
    ordered = sorted(blocks, key=lambda b: b.built)
    built_times = [b.built for b in ordered]
    rows = []
    for txid, sub in submissions.items():
        height = included.get(txid)
        block = by_height.get(height) if height is not None else None
        if block is None:
            continue
        # Blocks built after it was admitted, at a lower height than the one that took it.
        after = ordered[bisect_right(built_times, sub.answered) : bisect_left(built_times, block.built)]
        passed = [b for b in after if b.height < height]
        rows.append(
            (
                block.seen - sub.due,
                sub.called - sub.due,
                sub.answered - sub.called,
                block.built - sub.answered,
                block.seen - block.built,
                len(passed),
                sum(1 for b in passed if b.proposer == sub.node),
                block.proposer == sub.node,
                height,
            )
        )
    if not rows:
        return {}
    rows.sort(key=lambda r: r[0])
    tail = rows[min(len(rows) - 1, round(TAIL_FROM * (len(rows) - 1))) :]
    return {"all": _summary(rows, phases), "slowest_1pct": _summary(tail, phases)}


_PARTS = ("queued", "admission", "to_block", "finality")


def _summary(rows: list[tuple], phases: dict[int, dict[str, float | None]] | None) -> dict:
    total = sum(r[0] for r in rows) or 1e-9
    heights = sorted({r[8] for r in rows})
    logged = {}
    if phases:
        carried = [phases[h] for h in heights if h in phases]
        waited_on = [phases[h - 1] for h in heights if h - 1 in phases]
        logged = {
            "height_phases_ms_median": _phase_medians(carried),
            "previous_height_phases_ms_median": _phase_medians(waited_on),
        }
    return {
        "txs": len(rows),
        "latency_ms_median": round(median(r[0] for r in rows) * 1000, 1),
        "median_ms": {p: round(median(r[i + 1] for r in rows) * 1000, 1) for i, p in enumerate(_PARTS)},
        "share_of_latency": {p: round(sum(r[i + 1] for r in rows) / total, 3) for i, p in enumerate(_PARTS)},
        "left_out": {
            "blocks_median": median(r[5] for r in rows),
            "blocks_max": max(r[5] for r in rows),
            "by_own_node_median": median(r[6] for r in rows),
        },
        "included_by_own_node_share": round(sum(1 for r in rows if r[7]) / len(rows), 3),
        "heights": len(heights),
        **logged,
    }


def _phase_medians(logged: list[dict[str, float | None]]) -> dict[str, float | None]:
    """Each phase's median over the heights; `proposal_at` over those a peer proposed."""
    out: dict[str, float | None] = {}
    for phase in logged[0] if logged else ():
        values = [v for entry in logged if (v := entry[phase]) is not None]
        out[phase] = round(median(values), 1) if values else None
    return out
