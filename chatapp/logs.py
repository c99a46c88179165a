"""Plain, cheap logging for the served app.

The MCP SDK's `MCPServer(...)` installs a Rich handler with rich tracebacks
on the root logger. Rendering one such traceback takes seconds on the event
loop, stalling every request the worker serves: a database outage, which
logs one warning per failed request, would turn 503s in milliseconds into
503s in seconds. This puts back a one-line-per-record stderr handler.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def use_plain_logging() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__name__ == "RichHandler":
            root.removeHandler(handler)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
