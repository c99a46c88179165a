"""Logging that never stalls the event loop.

`MCPServer(...)` calls `logging.basicConfig` with a Rich handler that renders
tracebacks, which blocks the loop for seconds per 5xx. `configure_logging`
(run after the MCP server is built) replaces whatever sits on the root logger
with one queue: the calling code only enqueues the record, and a listener
thread formats it as plain text (traceback included) and writes it to stderr.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
from logging.handlers import QueueHandler, QueueListener

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class DeferredQueueHandler(QueueHandler):
    """Enqueues the record untouched: formatting (and traceback rendering)
    happens on the listener thread, not on the caller's (the event loop's)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


_listener: QueueListener | None = None


def configure_logging(level: int = logging.WARNING) -> None:
    """Idempotent: one queue handler on the root logger, one listener thread."""
    global _listener
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
    output.setFormatter(logging.Formatter(PLAIN_FORMAT))
    _listener = QueueListener(records, output, respect_handler_level=True)
    _listener.start()
    atexit.register(_listener.stop)
    root.addHandler(DeferredQueueHandler(records))
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
