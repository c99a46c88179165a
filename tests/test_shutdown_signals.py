"""SIGTERM starts the drain and still reaches the server's own handler, on
the stdlib loop and on uvloop (the one `make api` serves on): the drain's
clock starts at the signal, and Granian still begins its shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvloop

from chatapp import shutdown
from chatapp.services import inflight

LOOPS: dict[str, Callable[[Coroutine[Any, Any, Any]], Any]] = {
    "asyncio": asyncio.run,
    "uvloop": uvloop.run,
}


@pytest.fixture(autouse=True)
def signals_restored() -> Iterator[None]:
    """Each test leaves the process's handlers and the drain as it found them."""
    saved = {signum: signal.getsignal(signum) for signum in shutdown.SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
    shutdown._drain = None
    inflight.reset_for_tests()


async def _drain_on_signal() -> bool:
    return shutdown.drain_on_signal(0)


async def sigterm_to_a_served_loop(install_server_handler: bool) -> list[str]:
    """What ran when this process got SIGTERM, sent from another thread while
    the loop waits: the server's handler (as Granian installs it, on the
    loop) and whether the drain started."""
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    if install_server_handler:
        loop.add_signal_handler(signal.SIGTERM, ran.append, "server")
    try:
        if shutdown.drain_on_signal(0):
            ran.append("chained")
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM)).start()
        for _ in range(100):  # bounded: a second at most
            await asyncio.sleep(0.01)
            if "server" in ran and shutdown._drain is not None:
                break
        if shutdown._drain is not None:
            await shutdown._drain
            ran.append("drained")
        return ran
    finally:
        if install_server_handler:
            loop.remove_signal_handler(signal.SIGTERM)


@pytest.mark.parametrize("loop", LOOPS)
def test_sigterm_starts_the_drain_and_runs_the_servers_handler(loop: str) -> None:
    ran = LOOPS[loop](sigterm_to_a_served_loop(install_server_handler=True))
    assert sorted(ran) == ["chained", "drained", "server"]
    assert not inflight.accepting_turns()


@pytest.mark.parametrize("loop", LOOPS)
def test_a_sigterm_left_to_the_system_is_not_taken_over(loop: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    assert LOOPS[loop](_drain_on_signal()) is False
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_outside_the_main_thread_nothing_is_installed() -> None:
    chained: list[bool] = []
    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=lambda: chained.append(asyncio.run(_drain_on_signal())))
    thread.start()
    thread.join(timeout=10)
    assert chained == [False]
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("loop", LOOPS)
def test_a_python_level_handler_before_ours_still_runs(loop: str) -> None:
    """A server that handles SIGTERM with `signal.signal` (uvicorn does) keeps hearing it."""
    heard: list[int] = []
    signal.signal(signal.SIGTERM, lambda number, frame: heard.append(number))
    ran = LOOPS[loop](sigterm_to_a_served_loop(install_server_handler=False))
    assert heard == [signal.SIGTERM]
    assert ran == ["chained", "drained"]


def test_chaining_again_replaces_the_earlier_handler_instead_of_wrapping_it() -> None:
    def server(number: int, frame: object) -> None: ...

    signal.signal(signal.SIGTERM, server)
    asyncio.run(_drain_on_signal())
    asyncio.run(_drain_on_signal())  # a second lifespan, on a new loop
    assert signal.getsignal(signal.SIGTERM).chained_to is server  # type: ignore[union-attr]


def test_a_handler_whose_loop_has_closed_still_passes_the_signal_on() -> None:
    heard: list[int] = []
    signal.signal(signal.SIGTERM, lambda number, frame: heard.append(number))
    asyncio.run(_drain_on_signal())  # its loop is closed when run() returns
    signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)  # type: ignore[operator]
    assert heard == [signal.SIGTERM]
    assert shutdown._drain is None
