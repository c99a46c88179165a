"""Prometheus metrics an operator watches, recorded where they happen and
exposed at `GET /metrics`.

Recorded by the one turn pipeline (chatapp/services/turns.py) at turn
start, first event and end, never per streamed token, and by the request
middleware for HTTP errors. Each record is a few mmap writes (multiprocess
mode) or locked float adds (one process).

`make api` runs several Granian worker processes, and a scrape reaches any
one of them. So `chatapp.serve` gives every server start a fresh
`PROMETHEUS_MULTIPROC_DIR`: prometheus-client then keeps each worker's
values in memory-mapped files there, and a scrape merges every worker's
files (counters and histograms summed; the in-flight gauge summed over live
workers only). A dead worker's counters stay (totals never go down); its
in-flight gauge is dropped (`mark_process_dead`) by the next scrape.
Without the variable (`make run`, tests in one process) the process's own
registry answers.
"""

from __future__ import annotations

import glob
import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from chatapp.services.errors import FAILURES, ServiceError

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Read once, as prometheus-client itself does when it is imported.
MULTIPROC_DIR = os.environ.get(MULTIPROC_DIR_VARIABLE) or None

TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
FIRST_EVENT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]*_(\d+)\.db$")


def _forget_stale_live_gauges_of_this_pid() -> None:
    """A new process that reuses a dead worker's pid would otherwise start
    from that worker's in-flight count."""
    if MULTIPROC_DIR and os.path.isdir(MULTIPROC_DIR):
        mark_process_dead(os.getpid(), MULTIPROC_DIR)


_forget_stale_live_gauges_of_this_pid()

TURNS = Counter("chatapp_turns", "Turns ended, by outcome (complete, stopped, failed).", ["outcome"])
TURN_ERRORS = Counter("chatapp_turn_errors", "Failed turns, by service error code.", ["code"])
TURN_SECONDS = Histogram(
    "chatapp_turn_seconds", "From the turn request entering the pipeline to its answer stored, by outcome.",
    ["outcome"], buckets=TURN_BUCKETS,
)
FIRST_EVENT_SECONDS = Histogram(
    "chatapp_turn_first_event_seconds",
    "From the turn request entering the pipeline to its first event (the stored user message) handed to the bus.",
    buckets=FIRST_EVENT_BUCKETS,
)
TURNS_IN_FLIGHT = Gauge(
    "chatapp_turns_in_flight", "Turns running now (agent runs), summed over live workers.",
    multiprocess_mode="livesum",
)
TOOL_CALLS = Counter("chatapp_tool_calls", "Tool calls that finished, by tool.", ["tool"])
STREAMED_TOKENS = Counter(
    "chatapp_streamed_tokens", "Tokens (cl100k) of reply text the model streamed, counted once per turn.",
)
HTTP_ERRORS = Counter(
    "chatapp_http_errors", "HTTP responses with status >= 400, by status and the error shape's error_code "
    "('none' when the body is not in the error shape, 'other' for a code this app does not define).",
    ["status", "code"],
)


def _error_codes() -> frozenset[str]:
    """Every `error_code` the app answers with: a bounded label set."""
    codes = {"internal_error", "method_not_allowed", "payload_too_large", "invalid_request"}
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        kind = pending.pop()
        codes.add(kind.error_code)
        pending.extend(kind.__subclasses__())
    return frozenset(codes | set(FAILURES))


ERROR_CODES = _error_codes()


# ---- recording -------------------------------------------------------------

def turn_started() -> None:
    TURNS_IN_FLIGHT.inc()


def first_event(seconds: float) -> None:
    FIRST_EVENT_SECONDS.observe(seconds)


def turn_ended(outcome: str, seconds: float, *, streamed_tokens: int, error_code: str | None = None) -> None:
    """`outcome`: complete, stopped or failed (then with its `error_code`)."""
    TURNS_IN_FLIGHT.dec()
    TURNS.labels(outcome).inc()
    TURN_SECONDS.labels(outcome).observe(seconds)
    if streamed_tokens:
        STREAMED_TOKENS.inc(streamed_tokens)
    if error_code is not None:
        TURN_ERRORS.labels(error_code if error_code in ERROR_CODES else "other").inc()


def tool_called(tool_name: str) -> None:
    TOOL_CALLS.labels(tool_name).inc()


def http_error(status: int, error_code: str | None) -> None:
    code = "none" if error_code is None else error_code if error_code in ERROR_CODES else "other"
    HTTP_ERRORS.labels(str(status), code).inc()


# ---- exposing ----------------------------------------------------------------

def exposition() -> tuple[bytes, str]:
    """The text format of every worker's metrics (or this process's). Reads
    and merges files: call it off the event loop."""
    if MULTIPROC_DIR is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    forget_dead_workers(MULTIPROC_DIR)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=MULTIPROC_DIR)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def forget_dead_workers(directory: str) -> list[int]:
    """Drop the live gauges (turns in flight) of workers that are gone — a
    crash or a kill leaves no one to do it — so the sum counts live workers
    only. Granian has no hook for a worker's exit; a scrape is where it shows."""
    dead = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        match = LIVE_GAUGE_FILE.search(os.path.basename(path))
        if match and not process_alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        mark_process_dead(pid, directory)
    return sorted(dead)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead, whatever kill(0) says
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True
