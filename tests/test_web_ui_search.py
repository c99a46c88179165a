"""Search in the web UI, in headless Chromium against the whole app (see
tests/support/browser.py for the set-up this reuses): Ctrl/Cmd+K focuses the
sidebar's search box, hits show their snippet with the match marked, and a
hit opens its conversation scrolled to the message, highlighted, with older
pages read as far as needed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import PASSWORD, log_in, new_email, shot
from tests.support.ui_app import UiApp

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiApp]:
    app = UiApp("search", tmp_path_factory.mktemp("ui-search"))
    try:
        yield app.start()
    finally:
        app.stop()


def seed(app: UiApp, email: str, messages: list[list[str]]) -> list[str]:
    """Conversations sent through the REST API, one per list; their ids."""
    ids = []
    with httpx.Client(base_url=app.url, timeout=60) as client:
        session = client.post("/api/auth/register", json={"email": email, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {session['access_token']}"}
        for texts in messages:
            conversation: str | None = None
            for text in texts:
                response = client.post(f"/api/{session['user_id']}/chat", headers=headers,
                                       json={"message": text, "conversation_id": conversation})
                assert response.status_code == 200, response.text
                conversation = response.json()["conversation_id"]
            ids.append(conversation)
    return ids


def signed_in(page: Page, email: str) -> None:
    log_in(page, email)
    expect(page).to_have_url(re.compile(r"/chat/?$"))


def test_a_hit_opens_its_conversation_at_the_message_highlighted(page: Page, ui_app: UiApp) -> None:
    """The hit is message 1 of 60: the page first reads the latest 50, so
    it must read the older page to show it."""
    email = new_email("search")
    long_chat = ["Remember the zanzibar passport renewal"] + [f"note {n}" for n in range(2, 31)]
    old, newer = seed(ui_app, email, [long_chat, ["hello"]])
    signed_in(page, email)
    page.goto(f"/chat/{newer}")
    expect(page.locator("[data-role]")).to_have_count(2)

    page.fill("#search-input", "zanzib*")
    hit = page.locator("#search-results .search-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator(".search-match")).to_have_text("zanzibar")
    expect(hit.locator(".search-hit-title")).to_have_text("Remember the zanzibar passport renewal")
    expect(hit).to_be_visible()
    expect(hit.locator(".search-match")).to_be_visible()
    shot(page, "search-results.png")

    hit.click()
    expect(page).to_have_url(re.compile(f"/chat/{old}$"))
    focused = page.locator("#message-1")
    expect(focused).to_have_class(re.compile(r"\bsearch-focus\b"))
    expect(focused.locator(".user-text")).to_have_text("Remember the zanzibar passport renewal")
    expect(focused).to_be_in_viewport()
    expect(page.locator("#message-60")).to_have_count(1)  # the latest page is there too
    expect(page.locator(".search-focus")).to_have_count(1)
    shot(page, "search-opened-hit.png")


def test_a_hit_in_the_open_conversation_scrolls_back_to_it(page: Page, ui_app: UiApp) -> None:
    email = new_email("search-here")
    (chat,) = seed(ui_app, email, [["the quokka photo from the trip"] + [f"line {n}" for n in range(2, 31)]])
    signed_in(page, email)
    page.goto(f"/chat/{chat}")
    expect(page.locator("#message-60")).to_be_in_viewport()
    expect(page.locator("#message-1")).to_have_count(0)

    page.fill("#search-input", '"quokka photo')  # an unbalanced quote is a plain search
    page.locator("#search-results .search-hit").click()
    expect(page.locator("#message-1")).to_have_class(re.compile(r"\bsearch-focus\b"))
    expect(page.locator("#message-1")).to_be_in_viewport()
    expect(page).to_have_url(re.compile(f"/chat/{chat}$"))


def test_ctrl_k_focuses_search_and_escape_clears_it(page: Page, ui_app: UiApp) -> None:
    email = new_email("search-keys")
    seed(ui_app, email, [["pack the snorkel"]])
    signed_in(page, email)
    page.locator("#composer").click()
    page.keyboard.press("Control+k")
    expect(page.locator("#search-input")).to_be_focused()
    page.keyboard.type("nothing-like-this")
    expect(page.locator("#search-empty")).to_have_text("No messages match.")
    expect(page.locator("#conversation-list")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.locator("#search-input")).to_have_value("")
    expect(page.locator("#conversation-list .conversation-row")).to_have_count(1)
