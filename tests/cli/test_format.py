"""Amounts typed by people are parsed exactly; coin selection covers the amount with few inputs;
one document prints as JSON with --json or as its views without."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.format import (
    U64_MAX,
    AmountError,
    Fields,
    Grid,
    Lines,
    committed,
    format_yuan,
    money,
    parse_amount,
    proto3_json,
    render,
)
from cli.pay import Coin, InsufficientFunds, select_coins


@pytest.mark.parametrize(
    ("text", "fen"),
    [("12.34", 1234), ("12", 1200), ("12.3", 1230), ("0.01", 1), ("0.1", 10), ("1000000", 100_000_000),
     (" 7.05 ", 705), ("1_000.50", 100_050), ("184467440737095516.15", U64_MAX)],
)
def test_parses_exactly(text: str, fen: int) -> None:
    assert parse_amount(text) == fen


@pytest.mark.parametrize(
    ("text", "problem"),
    [("12.345", "3 decimal places"), ("-1", "negative"), ("abc", "not a number"), ("", "not a number"),
     ("1e3", "not a number"), ("12.", "not a number"), (".5", "not a number"), ("0", "zero"),
     ("0.00", "zero"), ("184467440737095516.16", "largest amount"), ("1" * 40, "largest amount"),
     ("NaN", "not a number"), ("inf", "not a number"), ("1,000", "not a number"), ("+5", "not a number"),
     ("\uff11\uff12", "not a number")],  # fullwidth digits
)
def test_rejects_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(AmountError, match=problem):
        parse_amount(text)


def test_zero_allowed_on_request() -> None:
    assert parse_amount("0", allow_zero=True) == 0


@given(st.integers(min_value=1, max_value=U64_MAX))
def test_format_then_parse_round_trips(fen: int) -> None:
    assert parse_amount(format_yuan(fen)) == fen


def test_format_and_json_fields() -> None:
    assert format_yuan(1234) == "12.34"
    assert format_yuan(5) == "0.05"
    assert format_yuan(123_456_789, grouping=True) == "1,234,567.89"
    assert money("balance", 1234) == {"balance": 1234, "balance_yuan": "12.34"}


def _coins(*amounts: int) -> list[Coin]:
    return [Coin(bytes([i]) * 32, 0, a) for i, a in enumerate(amounts)]


def test_smallest_single_coin_that_covers() -> None:
    picked = select_coins(_coins(500, 120, 100, 90), 100)
    assert [c.amount for c in picked.coins] == [100] and picked.change(100) == 0
    picked = select_coins(_coins(500, 120, 90), 100)
    assert [c.amount for c in picked.coins] == [120] and picked.change(100) == 20


def test_largest_first_when_no_single_coin_covers() -> None:
    picked = select_coins(_coins(30, 50, 40, 10), 85)
    assert [c.amount for c in picked.coins] == [50, 40] and picked.change(85) == 5


def test_insufficient_and_too_many_inputs() -> None:
    with pytest.raises(InsufficientFunds, match=r"balance is 0.80 yuan in 2 output\(s\)"):
        select_coins(_coins(30, 50), 81)
    with pytest.raises(InsufficientFunds, match="more than the 3 a transaction may spend"):
        select_coins(_coins(1, 1, 1, 1), 4, max_inputs=3)


@given(st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=40), st.data())
def test_selection_covers_exactly_what_it_spends(amounts: list[int], data: st.DataObject) -> None:
    amount = data.draw(st.integers(min_value=1, max_value=sum(amounts)))
    picked = select_coins(_coins(*amounts), amount)
    assert picked.total == sum(c.amount for c in picked.coins) >= amount
    assert len({(c.txid, c.index) for c in picked.coins}) == len(picked.coins)


def test_render_prints_the_document_as_json_and_nothing_else(capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"txid": "ab" * 32, "height": 7, **money("amount", 1234)}
    render(doc, True, Lines(["not for scripts"]), Fields([("height", 7)]))
    out = capsys.readouterr().out
    assert json.loads(out) == {"txid": "ab" * 32, "height": "7", "amount": "1234", "amount_yuan": "12.34"}
    assert "not for scripts" not in out


def test_json_writes_64_bit_integers_as_strings_and_32_bit_ones_as_numbers() -> None:
    """proto3's JSON mapping: a JavaScript number holds integers exactly only up to 2^53."""
    nonce = 2**63 - 25  # a random nonce is this large
    doc = {"nonce": nonce, "index": 3, "tier": 4, "ok": True, "outputs": [{"amount": 2**64 - 1}],
           "commit": {"round": 0, "height": 9}, "txid": "ab"}
    assert proto3_json(doc) == {
        "nonce": str(nonce), "index": 3, "tier": 4, "ok": True, "outputs": [{"amount": str(2**64 - 1)}],
        "commit": {"round": 0, "height": "9"}, "txid": "ab",
    }
    assert json.loads(json.dumps(proto3_json(doc)))["nonce"] == "9223372036854775783"


def test_render_prints_the_views_in_order_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    render({"ignored": True}, False, Lines(["first", "second"]),
           Grid(["txid", "amount (yuan)"], [("ab" * 32, "12.34")], title="1 output", right=["amount (yuan)"]),
           Fields([("at height", 7)]))
    out = capsys.readouterr().out
    assert out.startswith("first\nsecond\n")
    assert out.index("1 output") < out.index("ab" * 32) < out.index("at height")
    assert "ignored" not in out


def test_committed_says_what_where_and_the_txid() -> None:
    doc = {"txid": "cd" * 32, "height": 9, "block_hash": "ef" * 32}
    assert committed("paid 1.00 yuan to x", doc).lines == ["paid 1.00 yuan to x: committed in block 9",
                                                             f"txid {'cd' * 32}"]
    with_hash = committed("paid", doc, with_block_hash=True)
    assert with_hash.lines[0] == f"paid: committed in block 9 ({'ef' * 8})"

