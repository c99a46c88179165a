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
    """Run `start_drain` on SIGTERM/SIGINT before the handler the server
    installed on this loop (Granian's, which begins its own shutdown).
    asyncio keeps one handler per signal and no public way to read it, so
    this reads the loop's table; on a loop without one it does nothing and
    returns False (the drain then starts at lifespan shutdown)."""
    loop = asyncio.get_running_loop()
    handlers: Any = getattr(loop, "_signal_handlers", None)
    if not isinstance(handlers, dict):
        return False
    chained = False
    for signum in SIGNALS:
        previous = handlers.get(signum)
        if previous is None:
            continue

        def on_signal(previous: asyncio.Handle = previous) -> None:
            start_drain(grace_seconds)
            previous._run()  # the server's own handler, as it was registered

        loop.add_signal_handler(signum, on_signal)
        chained = True
    return chained


async def finish_drain(grace_seconds: float) -> None:
    """At lifespan shutdown: the drain the signal started (or one now, when
    the server stopped us some other way), awaited to its end."""
    still_running = await start_drain(grace_seconds)
    if still_running:
        logger.warning("%d turn(s) still running after %.0f s were interrupted", still_running, grace_seconds)
