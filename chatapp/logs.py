"""Logging that never stalls the event loop, one JSON object a line.

`MCPServer(...)` calls `logging.basicConfig` with a Rich handler that renders
tracebacks, which blocks the loop for seconds per 5xx. `configure_logging`
(run after the MCP server is built) replaces whatever sits on the root logger
with one queue: the calling code only makes the record (stamped with its
request id) and enqueues it, and a listener thread formats it (JSON, or plain text with
LOG_FORMAT=text; traceback included) and writes it to stderr.

The request id lives in a context variable set by the request middleware
(`chatapp.api.observability`); tasks and worker threads started while
serving a request inherit it, so a turn's log lines carry the id of the
request that started it.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
from contextvars import ContextVar
from datetime import datetime, timezone
from logging.handlers import QueueHandler, QueueListener
from typing import Any

import orjson

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
ACCESS_LOGGER = "chatapp.access"

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# What every LogRecord has; anything else on a record came from `extra=`.
RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "request_id"}


class DeferredQueueHandler(QueueHandler):
    """Enqueues the record untouched: formatting (and traceback rendering)
    happens on the listener thread, not on the caller's (the event loop's)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def stamp_request_ids() -> None:
    """Every record gets the request id where it is made: the listener
    thread that formats it has no request context. Once per process."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "stamps_request_id", False):
        return

    def record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    record_with_request_id.stamps_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_request_id)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", ...extra, "exception"?}`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class PlainFormatter(logging.Formatter):
    """For a terminal (LOG_FORMAT=text): the request id in brackets, `-` without one."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def formatter_for(log_format: str) -> logging.Formatter:
    return PlainFormatter() if log_format == "text" else JsonFormatter()


_listener: QueueListener | None = None


def configure_logging(log_format: str = "json", level: int | str = logging.WARNING, *, access_log: bool = True) -> None:
    """Idempotent: one queue handler on the root logger, one listener
    thread; the first call's format wins."""
    global _listener
    stamp_request_ids()
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log else logging.CRITICAL + 1)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, DeferredQueueHandler) and type(handler).__module__.startswith("rich"):
            root.removeHandler(handler)
    if any(isinstance(handler, DeferredQueueHandler) for handler in root.handlers):
        return
    for handler in list(root.handlers):  # the SDK's basicConfig handlers; pytest's capture handlers stay
        if type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    output = logging.StreamHandler(sys.stderr)
    output.setFormatter(formatter_for(log_format))
    _listener = QueueListener(records, output, respect_handler_level=True)
    _listener.start()
    atexit.register(_listener.stop)
    root.addHandler(DeferredQueueHandler(records))
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    if root.level == logging.NOTSET or root.level > numeric:
        root.setLevel(numeric)
