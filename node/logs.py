"""Structured logging on the stdlib: one line per event, as `key=value` text or JSON lines.

    log = get_logger("peers", node="v1")
    log.info("peer connected", peer=key, height=12)
    -> ts=2025-01-01T00:00:00.000Z level=info logger=cbdc.peers msg="peer connected" node=v1
       height=12 peer=ab12...   (one line)

Fields are keyword arguments (bytes print as hex: keys, txids and hashes stay greppable
across nodes). `bind()` returns a logger that adds fields to every line, e.g. one per peer
or per height. Tracebacks are folded into the `exc` field so an event never spans lines.

Levels: one for everything, and optionally one per module ("peers=debug,sync=warning", the
module being the logger name under `cbdc.`). `configure_logging` may be called again at any
time with other levels (the node does on SIGHUP); it replaces what the last call set.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

ROOT = "cbdc"
FORMATS = ("text", "json")
_FIELDS = "cbdc_fields"  # LogRecord attribute carrying the structured fields

# Fields attached to records, in the order text lines show them after the message.
STANDARD_FIELDS = ("node", "height", "round", "step", "peer", "txid")


def _utc(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(getattr(record, _FIELDS, {}))
    if record.exc_info and record.exc_info[0] is not None:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        fields["exc"] = record.exc_text
    return {k: _plain(v) for k, v in fields.items()}


def _ordered(fields: Mapping[str, Any]) -> list[tuple[str, Any]]:
    first = [(k, fields[k]) for k in STANDARD_FIELDS if k in fields]
    return first + [(k, v) for k, v in fields.items() if k not in STANDARD_FIELDS]


class TextFormatter(logging.Formatter):
    """`ts=... level=... logger=... msg="..." k=v ...` on one line (logfmt)."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"ts={_utc(record)}",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        parts += [f"{k}={_quote(v)}" for k, v in _ordered(_fields(record))]
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": _utc(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _ordered(_fields(record)):
            obj[key if key not in obj else f"field_{key}"] = value
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _quote(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and all(c.isprintable() and c not in ' "=\\' for c in text):
        return text
    # json.dumps escapes quotes, backslashes and newlines: the line stays one line.
    return json.dumps(text, ensure_ascii=False)


class FieldLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose calls take fields as keyword arguments and that carries bound fields."""

    def __init__(self, logger: logging.Logger, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(logger, dict(fields or {}))

    def bind(self, **fields: Any) -> FieldLogger:
        return FieldLogger(self.logger, {**(self.extra or {}), **fields})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        reserved = {"exc_info", "stack_info", "stacklevel", "extra"}
        call_fields = {k: kwargs.pop(k) for k in list(kwargs) if k not in reserved}
        extra = dict(kwargs.get("extra") or {})
        extra[_FIELDS] = {**(self.extra or {}), **call_fields}
        kwargs["extra"] = extra
        return msg, kwargs


def get_logger(name: str, **fields: Any) -> FieldLogger:
    """A field logger under the `cbdc` hierarchy: get_logger("peers") logs as cbdc.peers."""
    full = name if name == ROOT or name.startswith(ROOT + ".") else f"{ROOT}.{name}"
    return FieldLogger(logging.getLogger(full), fields)


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in stubs
    """Marks the handler configure_logging installed, so calling it again replaces it."""


# Loggers given a level of their own by the last configure_logging: the next call resets them.
_module_levels_set: set[str] = set()


def _level_number(level: str) -> int:
    numeric = logging.getLevelName(level.strip().upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    return numeric


def parse_module_levels(spec: str) -> dict[str, int]:
    """"peers=debug, sync=warning" -> {"cbdc.peers": DEBUG, "cbdc.sync": WARNING}; "" -> {}.
    ValueError naming the bad entry otherwise."""
    levels: dict[str, int] = {}
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        module, sep, level = entry.partition("=")
        if not sep or not module.strip():
            raise ValueError(f"{entry!r} is not MODULE=LEVEL (e.g. peers=debug)")
        levels[get_logger(module.strip()).logger.name] = _level_number(level)
    return levels


def configure_logging(
    level: str = "info", fmt: str = "text", stream: IO[str] | None = None, modules: str = ""
) -> None:
    """Send every log record (ours and libraries') to `stream` (stderr) in `fmt`, one line each,
    at `level`, except the modules `modules` names ("peers=debug,sync=warning").

    Idempotent: a second call replaces the handler, the level and the module levels the
    previous one set (so it also serves to change levels at runtime)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    numeric = _level_number(level)
    per_module = parse_module_levels(modules)
    handler = _OurHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _module_levels_set - set(per_module):
        logging.getLogger(name).setLevel(logging.NOTSET)  # back to inheriting the root's
    for name, module_level in per_module.items():
        logging.getLogger(name).setLevel(module_level)
    _module_levels_set.clear()
    _module_levels_set.update(per_module)
    # grpc logs a line per call at debug ("Loaded running loop"): noise, even when debugging us.
    logging.getLogger("grpc").setLevel(max(numeric, logging.INFO))
