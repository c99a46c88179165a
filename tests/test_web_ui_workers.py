"""The web UI on two backend workers sharing Redis (Reflex's state and the
turn bus), as in production: a reload or a second tab may land on a worker
other than the one running the turn, and still shows the reply as it
streams, ends with the stored message, and stops it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import redis

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import (
    STREAM_DELAY_MS, assistant_messages, open_context, record_fact, record_live, recorded, shot, sign_up,
    start_long_reply, stored_messages,
)
from tests.support.redis_server import RedisServer
from tests.support.ui_app import UiApp


@pytest.fixture(scope="module")
def workers_app(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[UiApp]:
    app = UiApp("workers", tmp_path_factory.mktemp("ui-workers"), extra_env={
        # Slower than the main instance: three reloads and a second tab, each a
        # new connection to a busy pair of workers, must all land mid-reply.
        "OFFLINE_STREAM_DELAY_MS": str(STREAM_DELAY_MS * 5),
        "GRANIAN_WORKERS": "2",
        "REDIS_URL": redis_server.url_for(11),  # the turn bus
        "REFLEX_REDIS_URL": redis_server.url_for(12),  # Reflex's state
    })
    try:
        yield app.start()
    finally:
        app.stop()


@pytest.mark.browser
def test_on_two_workers_reloads_and_a_second_tab_follow_the_reply_and_stop_it(browser: Browser, workers_app: UiApp) -> None:
    with open_context(browser, workers_app) as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        sign_up(page)
        start_long_reply(page, workers_app)
        reloads = 3  # each reload is a new connection, to either worker
        for _ in range(reloads):
            page.reload()
            expect(page.locator("#live-reply")).to_be_visible()
            expect(page.locator("#live-text")).to_contain_text("Errand number 3 ")
        record_live(page)
        second = context.new_page()
        second.goto(page.url)
        expect(second.locator("#live-text")).to_contain_text("Errand number 3 ")
        expect(second.locator("#stop-button")).to_be_visible()
        second.click("#stop-button")
        for tab in (page, second):
            expect(tab.locator("#live-reply")).to_have_count(0)
            expect(assistant_messages(tab).last).to_have_attribute("data-status", "stopped")
        shown = [tab.locator("[data-role=assistant] .markdown").last.inner_text().strip() for tab in (page, second)]
        assert shown[0] == shown[1]
        texts = [state["text"] for state in recorded(page)["texts"] if state["text"]]
        assert texts and all(shown[0].startswith(text) for text in texts), (texts[-3:], shown[0][-200:])
        stored = stored_messages(page, workers_app)
        assert stored[-1]["status"] == "stopped" and "Errand number 40" not in stored[-1]["content"]
        expect(assistant_messages(second).last.locator(".stopped-label")).to_be_visible()
        expect(second.locator("#stop-button")).to_have_count(0)
        second.mouse.move(0, 0)
        shot(second, "two-workers-stopped.png")
        page.reload()
        expect(assistant_messages(page).last.locator(".markdown")).to_have_text(shown[0])
        assert not errors, errors
        assert workers_app.process is not None
        group = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(workers_app.process.pid)], capture_output=True,
                               text=True, timeout=10).stdout.splitlines()
        with redis.Redis.from_url(workers_app.env()["REFLEX_REDIS_URL"]) as states, \
                redis.Redis.from_url(workers_app.env()["REDIS_URL"]) as bus:
            state_keys, turn_streams = states.dbsize(), len(list(bus.scan_iter("chatapp:turn:*:events")))
        assert state_keys > 0 and turn_streams > 0  # Reflex's state and the turn bus really live in Redis
        record_fact("two_workers_redis", {"reloads_mid_reply": reloads, "live_states_after_reloads": len(set(texts)),
                                          "stopped_from_second_tab": True, "reflex_state_keys": state_keys,
                                          "turn_streams": turn_streams, "app_processes": group})
