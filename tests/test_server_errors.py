"""A 5xx is logged once, as plain text, by the logging thread, and never
stalls other requests (MCPServer's Rich traceback handler is gone)."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import pytest
from sqlalchemy import Engine

from chatapp.api.app import create_api
from chatapp.config import Settings
from chatapp.logs import DeferredQueueHandler
from tests.support.ports import free_port
from tests.support.servers import ThreadServer


def failing_api(engine: Engine):  # type: ignore[no-untyped-def]
    api = create_api(engine, settings=Settings())

    @api.get("/api/boom", include_in_schema=False)
    async def boom() -> None:
        def deep(n: int) -> None:
            if n == 0:
                raise RuntimeError("kaboom")
            deep(n - 1)

        deep(50)

    # before the /api fallback route
    api.router.routes.insert(0, api.router.routes.pop())
    return api


def test_no_rich_handler_remains_on_the_root_logger(engine: Engine) -> None:
    create_api(engine, settings=Settings())
    handlers = logging.getLogger().handlers
    assert not [h for h in handlers if type(h).__module__.startswith("rich")]
    assert any(isinstance(h, DeferredQueueHandler) for h in handlers)


def test_an_unhandled_error_is_one_500_in_the_error_shape(engine: Engine) -> None:
    with ThreadServer(failing_api(engine), free_port()) as server:
        response = httpx.get(f"{server.base_url}/api/boom", timeout=10)
    assert response.status_code == 500
    assert response.json() == {
        "status": "error", "error_code": "internal_error", "error": "Something went wrong on our side.", "conversation_id": None,
    }


def test_an_unhandled_error_is_logged_once(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    with ThreadServer(failing_api(engine), free_port()) as server:
        with caplog.at_level(logging.ERROR):
            httpx.get(f"{server.base_url}/api/boom", timeout=10)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "kaboom" in str(errors[0].exc_info[1])


def test_the_queue_handler_leaves_formatting_to_the_logging_thread() -> None:
    handler = DeferredQueueHandler(queue=None)  # type: ignore[arg-type]
    try:
        raise ValueError("x")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "msg", None, exc_info=__import__("sys").exc_info())
    prepared = handler.prepare(record)
    assert prepared is record and record.exc_text is None  # no traceback rendered by the caller


def test_500s_do_not_slow_other_requests(engine: Engine) -> None:
    with ThreadServer(failing_api(engine), free_port()) as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            assert http.get("/openapi.json").status_code == 200  # built once, on the first request: not measured
        stop = time.monotonic() + 3
        failures = 0

        def flood() -> None:
            nonlocal failures
            with httpx.Client(base_url=server.base_url, timeout=10) as http:
                for _ in range(200):
                    if time.monotonic() > stop:
                        return
                    failures += http.get("/api/boom").status_code == 500

        threads = [threading.Thread(target=flood) for _ in range(4)]
        for thread in threads:
            thread.start()
        worst = 0.0
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            for _ in range(20):
                started = time.perf_counter()
                assert http.get("/openapi.json").status_code == 200
                worst = max(worst, time.perf_counter() - started)
        for thread in threads:
            thread.join(timeout=10)
    assert failures > 20
    # Rich took 2-4 s per traceback on the loop; plain logging off the loop is milliseconds.
    assert worst < 1.0, worst
