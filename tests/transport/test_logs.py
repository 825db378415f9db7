"""Structured log lines: one line per event, logfmt text or JSON, with bound fields."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from node.logs import configure_logging, get_logger


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _emit(fmt: str) -> list[str]:
    out = io.StringIO()
    configure_logging("debug", fmt, stream=out)
    log = get_logger("consensus", node="v1").bind(height=12, round=0)
    log.info("entered step", step="prevote", peer=b"\xab\xcd")
    log.warning('odd "value"', note="two words\nand a newline", txid=bytes(2), ok=True, missing=None)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("handler failed")
    return out.getvalue().splitlines()


def test_text_lines_are_logfmt_with_fields_in_a_stable_order(restore_root_logging: None) -> None:
    lines = _emit("text")
    assert len(lines) == 3  # the traceback stays inside its line
    assert re.fullmatch(
        r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info logger=cbdc\.consensus "
        r'msg="entered step" node=v1 height=12 round=0 step=prevote peer=abcd',
        lines[0],
    )
    assert lines[1].endswith(
        r'level=warning logger=cbdc.consensus msg="odd \"value\"" node=v1 height=12 round=0 txid=0000 '
        r'note="two words\nand a newline" ok=true missing=null'
    )
    assert "level=error" in lines[2] and 'exc="Traceback' in lines[2] and "ValueError: boom" in lines[2]


def test_json_lines_parse_and_carry_the_same_fields(restore_root_logging: None) -> None:
    records = [json.loads(line) for line in _emit("json")]
    first = records[0]
    assert first["level"] == "info" and first["logger"] == "cbdc.consensus" and first["msg"] == "entered step"
    assert {k: first[k] for k in ("node", "height", "round", "step", "peer")} == {
        "node": "v1", "height": 12, "round": 0, "step": "prevote", "peer": "abcd",
    }
    assert records[1]["note"] == "two words\nand a newline" and records[1]["ok"] is True
    assert "ValueError: boom" in records[2]["exc"]


def test_configure_is_idempotent_and_filters_by_level(restore_root_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "text", stream=first)
    configure_logging("warning", "json", stream=second)
    log = get_logger("peers")
    log.info("quiet")
    log.warning("loud")
    logging.getLogger("some.library").error("theirs too")
    assert first.getvalue() == ""
    assert [json.loads(line)["msg"] for line in second.getvalue().splitlines()] == ["loud", "theirs too"]
    with pytest.raises(ValueError, match="log format"):
        configure_logging("info", "xml")
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("loud", "text")


def test_module_levels_override_the_default_and_a_new_call_resets_them(restore_root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("warning", "json", stream=out, modules="peers=debug, consensus=error")
    get_logger("peers").debug("peer detail")
    get_logger("consensus").warning("consensus warning")
    get_logger("node").info("node info")
    get_logger("node").warning("node warning")
    shown = [json.loads(line)["msg"] for line in out.getvalue().splitlines()]
    assert shown == ["peer detail", "node warning"]
    again = io.StringIO()
    configure_logging("info", "json", stream=again)  # e.g. on SIGHUP: modules back to the default
    get_logger("peers").debug("quiet now")
    get_logger("consensus").info("consensus info")
    assert [json.loads(line)["msg"] for line in again.getvalue().splitlines()] == ["consensus info"]
    with pytest.raises(ValueError, match="not MODULE=LEVEL"):
        configure_logging("info", "text", modules="peers")
