"""Graceful shutdown of a worker: the grace starts at SIGTERM.

Granian, on SIGTERM, closes the worker's listener and waits for every open
request to finish before it runs the app's lifespan shutdown; a streamed
turn is an open request. Draining only at lifespan shutdown would therefore
start the clock after the turns had ended, and a turn running past the
grace would die with the worker when Granian kills it, unrecorded. So the
drain starts when the signal arrives: turns get SHUTDOWN_GRACE_SECONDS from
then, the ones still running are cancelled (and store themselves as
interrupted), their requests end, and Granian lets the worker go.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType
from typing import Any

from chatapp.services import inflight

logger = logging.getLogger("chatapp.shutdown")
SIGNALS = (signal.SIGTERM, signal.SIGINT)
_drain: asyncio.Task[int] | None = None


def start_drain(grace_seconds: float) -> asyncio.Task[int]:
    """The one drain of this process, started on first call."""
    global _drain
    if _drain is None:
        _drain = asyncio.get_running_loop().create_task(inflight.drain(grace_seconds), name="chatapp-drain")
    return _drain


def drain_on_signal(grace_seconds: float) -> bool:
    """Run `start_drain` on SIGTERM/SIGINT as well as the handler the server
    installed on this loop (Granian's, which begins its own shutdown).

    An event loop's `add_signal_handler` keeps one handler per signal, in a
    table that is private (asyncio) or unreachable (uvloop). Both loops are
    woken the same way, though: the signal's number is written to the loop's
    wake-up fd by the C-level handler, and the loop dispatches its table from
    there, whatever Python-level handler the `signal` module holds (the
    loop's own: a no-op in asyncio, a fallback record in uvloop). So this
    replaces that Python-level handler with one that schedules the drain on
    this loop and then calls the one it replaced: the loop still runs the
    server's handler. System calls the signal interrupts are still restarted
    (`siginterrupt(False)`, as both loops set it). A signal left to the
    system's default (or ignored) is left alone, so it still ends (or spares)
    the process, and one chained here before (an earlier loop's) is replaced,
    not wrapped again. Outside the main thread (an app served some other
    way) nothing is installed. Returns whether a handler is chained; when
    none is, the drain starts at lifespan shutdown."""
    if threading.current_thread() is not threading.main_thread():
        return False
    loop = asyncio.get_running_loop()
    chained = False
    for signum in SIGNALS:
        previous = signal.getsignal(signum)
        previous = getattr(previous, "chained_to", previous)  # one installed here before: replaced, not wrapped
        if not callable(previous):
            continue

        def on_signal(number: int, frame: FrameType | None, previous: Any = previous) -> None:
            try:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(start_drain, grace_seconds)
            finally:
                previous(number, frame)  # whatever happens above, the server still hears the signal

        on_signal.chained_to = previous  # type: ignore[attr-defined]
        signal.signal(signum, on_signal)
        signal.siginterrupt(signum, False)
        chained = True
    return chained


async def finish_drain(grace_seconds: float) -> None:
    """At lifespan shutdown: the drain the signal started (or one now, when
    the server stopped us some other way), awaited to its end."""
    still_running = await start_drain(grace_seconds)
    if still_running:
        logger.warning("%d turn(s) still running after %.0f s were interrupted", still_running, grace_seconds)
