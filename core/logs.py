"""One logging setup for btt-ledger, btt-bridge and btt, with structlog.

Services write JSON lines (one object per line: ts, time, level, logger, msg and the fields
given as `extra=` or bound to a structlog logger); on a terminal, or with BTT_LOG_FORMAT=console,
key=value lines for people. Standard `logging` loggers and structlog loggers go through the same
handler. While a request is served, `request_id` (a contextvar, set by the RPC interceptor) is
on every line, including lines written from the database threads the request runs work on
(`in_context` carries it there).
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, TextIO, TypeVar

import structlog

T = TypeVar("T")
FORMAT_ENV = "BTT_LOG_FORMAT"  # json, console or auto (JSON unless stderr is a terminal)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

EventDict = MutableMapping[str, Any]


def _add_request_id(_logger: Any, _name: str, event: EventDict) -> EventDict:
    rid = request_id.get()
    if rid != "-":
        event.setdefault("request_id", rid)
    return event


def _add_time(_logger: Any, _name: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    now = record.created if isinstance(record, logging.LogRecord) else time.time()
    event["ts"] = round(now, 3)
    event["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return event


def _add_console_time(_logger: Any, _name: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    now = record.created if isinstance(record, logging.LogRecord) else time.time()
    event["timestamp"] = time.strftime("%H:%M:%S", time.localtime(now))
    return event


def _chain(as_json: bool = True) -> list[Any]:
    """What every line gets, whichever logger wrote it."""
    return [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _add_time if as_json else _add_console_time,
    ]


def wants_json(stream: TextIO, fmt: str | None = None) -> bool:
    fmt = (fmt or os.environ.get(FORMAT_ENV) or "auto").lower()
    if fmt in ("json", "console"):
        return fmt == "json"
    return not stream.isatty()


def configure(
    level: str = "INFO",
    *,
    json_lines: bool | None = None,
    stream: TextIO | None = None,
    filters: Iterable[logging.Filter] = (),
) -> None:
    """Route every log line of this process to `stream` (stderr), at `level` and above.

    `json_lines`: None decides by BTT_LOG_FORMAT, else by whether the stream is a terminal."""
    stream = stream or sys.stderr
    as_json = wants_json(stream) if json_lines is None else json_lines
    renderer: Any
    if as_json:
        renderer = [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(default=str),
        ]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=False)]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_chain(as_json),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    for f in filters:
        handler.addFilter(f)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_chain(as_json),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    """A structlog logger writing through the setup above."""
    return structlog.stdlib.get_logger(name)


def in_context(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` to run in another thread with this context's variables (the request id)."""
    context = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> T:
        return context.run(fn, *args, **kwargs)

    return run
