"""Each height's phases as a validator logged them with its commit (node.height_clock), read
back from its log file: logfmt (`key=value ...`, the default) or JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

from node.height_clock import LOGGED


def height_phases(log_path: Path) -> dict[int, dict[str, float | None]]:
    """height -> {phase: milliseconds} for every `committed` line that carries phases, with
    `proposal_at` (None on the heights this node proposed)."""
    out: dict[int, dict[str, float | None]] = {}
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        if "committed" not in line:
            continue
        record = _parse(line)
        if record.get("msg") != "committed" or "wait_ms" not in record:
            continue
        try:
            phases: dict[str, float | None] = {f: float(record[f"{f}_ms"]) for f in LOGGED}
        except (KeyError, TypeError, ValueError):
            continue
        arrived = record.get("proposal_at_ms")
        phases["proposal_at"] = None if arrived in (None, "null") else float(arrived)
        out[int(record["height"])] = phases
    return out


def _parse(line: str) -> dict:
    if line.startswith("{"):
        try:
            return json.loads(line)
        except ValueError:
            return {}
    fields = {}
    for token in line.split(" "):
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields
