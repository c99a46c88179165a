"""The web UI in a real browser: headless Chromium (Playwright) against the
whole app, started here with `reflex run --env prod` on a free port (see
tests/support/ui_app.py), on a fresh, migrated SQLite database and the offline model.

One app process serves every test but the agent-failure one, which gets a
second instance whose model endpoint is a closed port. Each test uses its own
browser context (its own localStorage) and its own accounts.

The offline model answers in microseconds, so the main instance paces its
streamed words (OFFLINE_STREAM_DELAY_MS) like a real model's tokens: that is
what makes the live bubble observable and Stop clickable mid-reply.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocketRoute, expect

from chatapp.agent.offline import HELP_TEXT
from tests.support.browser import (
    CONVERSATION_URL, ERRANDS, PASSWORD, PHONE, SCREENSHOTS, STREAM_DELAY_MS, assistant_messages,
    conversation_id, expect_dark, expect_light, log_in, new_email, open_context, record_fact, record_live, recorded,
    seed_tasks, send, shot, sidebar_rows, sign_up, start_long_reply, stored_messages, thread_texts, use_token,
    user_messages,
)
from tests.support.ports import free_port
from tests.support.ui_app import JWT_SECRET, UiApp


# --------------------------------------------------------------- fixtures

UI_LOGIN_LIMIT = 3


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiApp]:
    app = UiApp("main", tmp_path_factory.mktemp("ui-main"), extra_env={"OFFLINE_STREAM_DELAY_MS": str(STREAM_DELAY_MS)})
    try:
        yield app.start()
    finally:
        app.stop()


@pytest.fixture(scope="module")
def failing_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiApp]:
    """Every turn fails for real: the model endpoint is a port nobody
    listens on, so the provider call is refused (agent_error)."""
    closed_port = free_port()
    app = UiApp(
        "failing",
        tmp_path_factory.mktemp("ui-failing"),
        extra_env={"OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port}/v1", "OPENAI_API_KEY": "sk-test-unused",
                   # tight, for the sign-in limit test; every other test here signs up a new email
                   "RATE_LIMIT_LOGIN_PER_EMAIL": f"{UI_LOGIN_LIMIT}/minute"},
    )
    try:
        yield app.start()
    finally:
        app.stop()


# ---------------------------------------------------------------- helpers


# ---------------------------------------------------------- browser tests


@pytest.mark.browser
def test_sign_up_and_sign_in_show_inline_errors(page: Page) -> None:
    page.goto("/chat")
    expect(page).to_have_url(re.compile(r"/login/?$"))

    email = new_email("auth")
    page.goto("/signup")
    page.fill("#email-input", email)
    page.fill("#password-input", "short")
    page.click("#auth-submit")
    expect(page.locator("#auth-error")).to_contain_text("at least 8 characters")
    page.fill("#password-input", "alllowercase")
    page.click("#auth-submit")
    expect(page.locator("#auth-error")).to_contain_text("too weak")

    page.fill("#password-input", PASSWORD)
    page.click("#auth-submit")
    expect(page).to_have_url(re.compile(r"/chat/?$"))
    expect(page.locator("#empty-state")).to_be_visible()
    page.reload()  # the token is in localStorage: still signed in
    expect(page.locator("#account-email")).to_have_text(email)
    expect(page).to_have_url(re.compile(r"/chat/?$"))

    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    assert not page.evaluate("window.localStorage.getItem('jwt')")

    page.goto("/signup")
    page.fill("#email-input", email)
    page.fill("#password-input", PASSWORD)
    page.click("#auth-submit")
    expect(page.locator("#auth-error")).to_contain_text("already exists")

    log_in(page, email, "Wrong-password-1")
    expect(page.locator("#auth-error")).to_have_text("Incorrect email or password.")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    page.fill("#password-input", PASSWORD)
    page.click("#auth-submit")
    expect(page).to_have_url(re.compile(r"/chat/?$"))
    expect(page.locator("#account-email")).to_have_text(email)
    page.goto("/login")  # signed in: the login page sends you on
    expect(page).to_have_url(re.compile(r"/chat/?$"))


@pytest.mark.browser
def test_turn_shows_reply_tool_card_and_tasks_panel_then_survives_reload(page: Page) -> None:
    sign_up(page)
    expect(page.locator("#tasks-empty")).to_be_visible()

    send(page, "Add task: Buy groceries")
    first_id = conversation_id(page)
    reply = assistant_messages(page).last
    expect(reply.locator(".markdown")).to_contain_text("Buy groceries")
    card = reply.locator(".tool-card[data-tool=add_task]")
    expect(card).to_contain_text("title: Buy groceries")
    expect(card.locator(".tool-body")).to_be_hidden()
    card.locator("summary").click()
    expect(card.locator(".tool-json").first).to_contain_text('"title": "Buy groceries"')
    expect(card.locator(".tool-json").nth(1)).to_contain_text('"status": "created"')
    task = page.locator("#pending-tasks .task-row", has_text="Buy groceries")
    expect(task).to_contain_text("#1")
    expect(task).to_have_attribute("data-completed", "false")
    expect(page.locator("#chat-title")).to_have_text("Add task: Buy groceries")
    expect(sidebar_rows(page)).to_have_count(1)
    expect(sidebar_rows(page).first).to_have_class(re.compile(r"\bactive\b"))
    # Relative time on screen, the exact time on hover.
    expect(user_messages(page).first.locator("time")).to_have_attribute("title", re.compile(r"\d{4}, \d\d:\d\d:\d\d"))

    send(page, "mark it done")
    expect(assistant_messages(page).last.locator(".tool-card[data-tool=complete_task]")).to_be_visible()
    done = page.locator("#completed-tasks .task-row", has_text="Buy groceries")
    expect(done).to_have_attribute("data-completed", "true")
    expect(page.locator("#pending-tasks .task-row")).to_have_count(0)

    before = thread_texts(page)
    assert len(before) == 4 and before[0] == "Add task: Buy groceries"
    page.reload()
    expect(assistant_messages(page)).to_have_count(2)
    assert thread_texts(page) == before
    assert conversation_id(page) == first_id
    expect(page.locator("#completed-tasks .task-row")).to_have_count(1)
    expect(page.locator(".tool-card")).to_have_count(2)


@pytest.mark.browser
def test_markdown_is_rendered_and_raw_html_is_not(page: Page) -> None:
    sign_up(page)
    send(page, "Add task: Review **report** <img src=x onerror=\"window.__xss=1\"> <b>now</b>")
    send(page, "Add task: Buy milk")
    send(page, "what's on my list?")
    replies = assistant_messages(page)
    expect(replies.first.locator(".markdown strong")).to_have_text("report")
    expect(replies.last.locator(".markdown li")).to_have_count(2)
    expect(page.locator(".markdown img, .markdown b, .user-text img")).to_have_count(0)
    expect(replies.first.locator(".markdown")).to_contain_text("<b>now</b>")
    assert page.evaluate("window.__xss") is None
    expect(user_messages(page).first).to_contain_text('<img src=x onerror="window.__xss=1">')


@pytest.mark.browser
def test_sidebar_new_chat_rename_switch_and_delete(page: Page) -> None:
    sign_up(page)
    page.locator(".example-prompt", has_text="Add task: Buy groceries").click()  # an example prompt sends itself
    expect(assistant_messages(page)).to_have_count(1)
    first_id = conversation_id(page)

    page.click("#new-chat")
    expect(page).to_have_url(re.compile(r"/chat/?$"))
    expect(page.locator("#empty-state")).to_be_visible()
    send(page, "Add task: Call the plumber", replies_before=0)
    second_id = conversation_id(page)
    assert second_id != first_id
    expect(sidebar_rows(page)).to_have_count(2)
    second_row = page.locator(f'[data-conversation-id="{second_id}"]')
    first_row = page.locator(f'[data-conversation-id="{first_id}"]')
    expect(sidebar_rows(page).first).to_have_attribute("data-conversation-id", second_id)  # most recent first
    expect(second_row).to_have_class(re.compile(r"\bactive\b"))

    second_row.hover()
    second_row.locator(".rename-button").click()
    page.fill("#rename-input", "Plumbing")
    page.press("#rename-input", "Enter")
    expect(second_row).to_contain_text("Plumbing")
    expect(page.locator("#chat-title")).to_have_text("Plumbing")

    first_row.locator(".conversation-link").click()
    expect(page).to_have_url(re.compile(rf"/chat/{first_id}$"))
    expect(first_row).to_have_class(re.compile(r"\bactive\b"))
    expect(second_row).not_to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator(".user-text").first).to_have_text("Add task: Buy groceries")
    page.reload()
    expect(second_row).to_contain_text("Plumbing")  # the rename is stored

    second_row.hover()
    second_row.locator(".delete-button").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("Plumbing")
    page.click("#cancel-delete")
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    expect(sidebar_rows(page)).to_have_count(2)
    second_row.hover()
    second_row.locator(".delete-button").click()
    page.click("#confirm-delete")
    expect(sidebar_rows(page)).to_have_count(1)
    expect(page).to_have_url(re.compile(rf"/chat/{first_id}$"))

    first_row.hover()
    first_row.locator(".delete-button").click()
    page.click("#confirm-delete")  # the open conversation: back to a new chat
    expect(page).to_have_url(re.compile(r"/chat/?$"))
    expect(sidebar_rows(page)).to_have_count(0)
    page.goto(f"/chat/{second_id}")
    expect(page.locator("#not-found")).to_be_visible()


@pytest.mark.browser
def test_signed_out_and_other_users_cannot_see_a_conversation(browser: Browser, ui_app: UiApp, page: Page) -> None:
    sign_up(page)
    send(page, "Add task: Secret plans for the weekend")
    url = f"/chat/{conversation_id(page)}"
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    page.goto(url)
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.locator("body")).not_to_contain_text("Secret plans")
    expect(page.locator("#auth-notice")).to_have_count(0)  # signed out on purpose: nothing to explain

    with open_context(browser, ui_app) as other:
        intruder = other.new_page()
        sign_up(intruder)
        intruder.goto(url)
        expect(intruder.locator("#not-found")).to_contain_text("Conversation not found")
        expect(intruder.locator("body")).not_to_contain_text("Secret plans")
        expect(intruder.locator("#composer")).to_have_count(0)
        intruder.goto("/chat/not-a-uuid")
        expect(intruder.locator("#not-found")).to_be_visible()

    # An expired token is a signed-out visitor, told why.
    expired = jwt.encode(
        {"sub": str(uuid.uuid4()), "iat": datetime.now(UTC) - timedelta(days=2),
         "exp": datetime.now(UTC) - timedelta(days=1)},
        JWT_SECRET,
        algorithm="HS256",
    )
    page.evaluate("token => window.localStorage.setItem('jwt', token)", expired)
    page.goto(url)
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.locator("#auth-notice")).to_contain_text("expired")
    expect(page.locator("body")).not_to_contain_text("Secret plans")


@pytest.mark.browser
def test_enter_sends_shift_enter_adds_a_line_and_the_limit_is_shown(page: Page) -> None:
    sign_up(page)
    composer = page.locator("#composer")
    composer.click()
    page.keyboard.type("Add task: Pack bags")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("and passports")
    expect(composer).to_have_value("Add task: Pack bags\nand passports")
    expect(user_messages(page)).to_have_count(0)

    # Record what the page shows between Enter and the reply.
    page.evaluate(
        """() => {
          window.__seen = {disabled: false, pending: false};
          new MutationObserver(() => {
            if (document.getElementById('composer')?.disabled) window.__seen.disabled = true;
            if (document.querySelector('[data-role=user].pending')) window.__seen.pending = true;
          }).observe(document.body, {subtree: true, childList: true, attributes: true});
        }"""
    )
    page.keyboard.press("Enter")
    expect(assistant_messages(page)).to_have_count(1)
    expect(user_messages(page)).to_have_count(1)
    assert user_messages(page).first.locator(".user-text").inner_text() == "Add task: Pack bags\nand passports"
    assert page.evaluate("window.__seen") == {"disabled": True, "pending": True}
    expect(composer).to_have_value("")
    expect(composer).to_be_enabled()

    composer.fill("x" * 5001)
    expect(page.locator("#char-limit")).to_contain_text("5001 / 5,000")
    expect(page.locator("#send-button")).to_be_disabled()
    page.press("#composer", "Enter")
    expect(page.locator("#turn-error")).to_contain_text("limit is 5,000")
    expect(user_messages(page)).to_have_count(1)
    composer.fill("x" * 4990)
    expect(page.locator("#char-limit")).to_have_count(0)
    expect(page.locator("#char-counter")).to_contain_text("4990 / 5,000")


@pytest.mark.browser
def test_long_conversation_loads_older_pages_on_scroll_up(page: Page, ui_app: UiApp) -> None:
    """60 stored messages (seeded through the REST API): the page opens on
    the latest 50 and scrolling to the top brings in the rest."""
    email = new_email("long")
    with httpx.Client(base_url=ui_app.url, timeout=60) as client:
        session = client.post("/api/auth/register", json={"email": email, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {session['access_token']}"}
        conversation: str | None = None
        for number in range(1, 31):
            response = client.post(
                f"/api/{session['user_id']}/chat", headers=headers,
                json={"message": f"Add task: Errand {number}", "conversation_id": conversation},
            )
            assert response.status_code == 200, response.text
            conversation = response.json()["conversation_id"]
    log_in(page, email)
    expect(page).to_have_url(re.compile(r"/chat/?$"))
    page.goto(f"/chat/{conversation}")
    expect(page.locator("[data-role]")).to_have_count(50)
    expect(page.locator("#message-60")).to_be_in_viewport()  # opens at the newest
    expect(page.locator("#message-1")).to_have_count(0)
    page.locator("#thread").evaluate("thread => thread.scrollTo(0, 0)")
    expect(page.locator("[data-role]")).to_have_count(60)
    expect(page.locator("#message-1 .user-text")).to_have_text("Add task: Errand 1")
    expect(page.locator("#load-older")).to_have_count(0)
    expect(page.locator("#message-11")).to_be_in_viewport()  # the view stayed where it was


@pytest.mark.browser
def test_reply_streams_into_a_live_bubble_then_is_the_stored_message(page: Page) -> None:
    sign_up(page)
    record_live(page)
    send(page, "help")
    final = assistant_messages(page).last.locator(".markdown").inner_text().strip()
    seen = recorded(page)
    texts = [state["text"] for state in seen["texts"] if state["text"]]
    partial = [text for text in texts if text != final]
    assert len(set(partial)) > 1, seen  # the words arrived over several renders
    assert final.startswith(partial[0]) and all(len(text) < len(final) for text in partial), texts
    assert all(state["stored"] == 0 for state in seen["texts"]), seen  # all before the reply was stored
    assert final.startswith("Hi! I can manage your to-do list.") and seen["stopShown"]
    expect(page.locator("#stop-button")).to_have_count(0)
    expect(page.locator("#live-reply")).to_have_count(0)
    expect(assistant_messages(page).last).to_have_attribute("data-status", "complete")
    expect(assistant_messages(page).last.locator(".markdown li")).to_have_count(5)  # Markdown, as stored
    page.reload()
    expect(assistant_messages(page).last.locator(".markdown")).to_have_text(final)


@pytest.mark.browser
def test_tool_card_appears_while_streaming_and_the_tasks_panel_follows(page: Page) -> None:
    sign_up(page)
    expect(page.locator("#tasks-empty")).to_be_visible()
    record_live(page)
    send(page, "Add task: Buy groceries")
    seen = recorded(page)
    assert "add_task:false" in seen["tools"], seen  # a live card, with its result
    assert seen["tasksDuring"] == 1, seen  # the panel had the task before the reply was done
    card = assistant_messages(page).last.locator(".tool-card[data-tool=add_task]")
    expect(card).to_contain_text("title: Buy groceries")
    expect(card).to_contain_text("ok")
    expect(page.locator("#pending-tasks .task-row", has_text="Buy groceries")).to_contain_text("#1")


@pytest.mark.browser
def test_stop_keeps_the_partial_reply_marked_stopped(page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    send(page, "Add task: Water the plants")
    record_live(page, stop_on_text=True)
    send(page, "help")
    seen = recorded(page)
    assert seen["stopAt"], seen
    reply = assistant_messages(page).last
    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.locator(".stopped-label")).to_have_text("Stopped")
    expect(assistant_messages(page).first.locator(".stopped-label")).to_have_count(0)
    expect(page.locator("#stop-button")).to_have_count(0)
    expect(page.locator("#composer")).to_be_enabled()

    stored = stored_messages(page, ui_app)
    assert [(m["role"], m["status"]) for m in stored][-2:] == [("user", "complete"), ("assistant", "stopped")]
    partial = stored[-1]["content"]
    assert partial and HELP_TEXT.startswith(partial) and len(partial) < len(HELP_TEXT), partial
    shown = reply.locator(".markdown").inner_text().strip()
    page.reload()
    expect(assistant_messages(page)).to_have_count(2)
    expect(assistant_messages(page).last).to_have_attribute("data-status", "stopped")
    expect(assistant_messages(page).last.locator(".markdown")).to_have_text(shown)
    expect(assistant_messages(page).last.locator(".stopped-label")).to_be_visible()

    send(page, "what's on my list?")  # the conversation goes on after a stop
    expect(assistant_messages(page).last).to_contain_text("Water the plants")
    expect(page.locator(".stopped-label")).to_have_count(1)


@pytest.mark.browser
def test_reload_mid_reply_resumes_the_live_reply_and_ends_as_stored(page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    start_long_reply(page, ui_app)
    before = page.locator("#live-text").inner_text()
    reloaded_at = time.monotonic()
    page.reload()
    record_live(page)
    expect(page.locator("#live-reply")).to_be_visible()
    expect(page.locator("#live-text")).to_contain_text("Errand number 3 ")  # replayed from the start
    shown_after = time.monotonic() - reloaded_at
    expect(page.locator("#stop-button")).to_be_visible()
    expect(page.locator("#composer")).to_be_disabled()
    expect(assistant_messages(page)).to_have_count(1)  # the answer in progress is the live bubble
    page.mouse.move(0, 0)
    shot(page, "resumed-after-reload.png")

    expect(page.locator("#live-reply")).to_have_count(0, timeout=60_000)
    expect(assistant_messages(page)).to_have_count(2)
    reply = assistant_messages(page).last
    expect(reply).to_have_attribute("data-status", "complete")
    final = reply.locator(".markdown").inner_text().strip()
    texts = [state["text"] for state in recorded(page)["texts"] if state["text"]]
    assert len(set(texts)) > 2, texts  # it went on streaming after the reload
    assert all(final.startswith(text) for text in texts), (texts[:3], final[:200])
    assert len(texts[0]) >= len(before.strip()) - 5, (before, texts[0])  # resumed where it was, not from nothing
    assert all(state["stored"] == 1 for state in recorded(page)["texts"])  # never shown twice
    stored = stored_messages(page, ui_app)
    assert stored[-1]["status"] == "complete" and "Errand number 40" in stored[-1]["content"]
    page.reload()
    expect(assistant_messages(page).last.locator(".markdown")).to_have_text(final)  # identical to what is stored
    record_fact("reload_mid_reply", {
        "live_text_chars_before_reload": len(before), "first_live_text_chars_after_reload": len(texts[0]),
        "seconds_from_reload_to_resumed_bubble": round(shown_after, 2), "live_states_after_reload": len(set(texts)),
        "final_chars": len(final),
    })


@pytest.mark.browser
def test_second_tab_follows_the_reply_and_stops_it(context: BrowserContext, page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    start_long_reply(page, ui_app)
    second = context.new_page()  # the same browser: signed in, its own page state
    second.goto(page.url)
    expect(second.locator("#live-reply")).to_be_visible()
    expect(second.locator("#live-text")).to_contain_text("Errand number 3 ")
    expect(second.locator("#stop-button")).to_be_visible()
    second.mouse.move(0, 0)
    shot(second, "second-tab-following.png")
    second.click("#stop-button")

    for tab in (page, second):
        expect(tab.locator("#live-reply")).to_have_count(0)
        expect(assistant_messages(tab)).to_have_count(2)
        expect(assistant_messages(tab).last).to_have_attribute("data-status", "stopped")
        expect(assistant_messages(tab).last.locator(".stopped-label")).to_be_visible()
        expect(tab.locator("#composer")).to_be_enabled()
    shown = [tab.locator("[data-role=assistant] .markdown").last.inner_text().strip() for tab in (page, second)]
    assert shown[0] == shown[1] and "Errand number 3 " in shown[0]
    stored = stored_messages(page, ui_app)
    assert stored[-1]["status"] == "stopped" and "Errand number 40" not in stored[-1]["content"]
    second.mouse.move(0, 0)
    shot(second, "stopped-from-second-tab.png")
    record_fact("stop_from_second_tab", {"stored_chars": len(stored[-1]["content"]), "shown_chars": len(shown[0])})
    second.close()


@pytest.mark.browser
def test_the_service_refuses_a_regenerate_while_another_tab_streams(context: BrowserContext, page: Page, ui_app: UiApp) -> None:
    """A tab opened before the turn started still offers Regenerate; the
    service, not the page, says no (a Conflict), and the page shows why."""
    sign_up(page)
    seed_tasks(page, ui_app, ERRANDS)
    send(page, "Add task: Call mum on Sunday")
    second = context.new_page()
    second.goto(page.url)
    expect(second.locator("#regenerate-button")).to_be_visible()
    page.fill("#composer", "what's on my list?")
    page.press("#composer", "Enter")
    expect(page.locator("#live-text")).to_contain_text("Errand number 2 ")
    second.click("#regenerate-button")
    expect(second.locator("[data-sonner-toast]")).to_contain_text("still being written")
    expect(second.locator("#live-reply")).to_have_count(0)
    expect(second.locator("#composer")).to_be_enabled()
    expect(page.locator("#live-reply")).to_have_count(0, timeout=60_000)
    expect(assistant_messages(page).last).to_have_attribute("data-status", "complete")
    stored = stored_messages(page, ui_app)
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "complete")] * 2
    second.close()


@pytest.mark.browser
def test_resend_after_a_failed_send_stores_the_message_once(page: Page, ui_app: UiApp) -> None:
    """The database refuses the message (its idempotency table is away):
    the notice offers Retry, which sends the same text with the same key
    once the database is back; the message is stored exactly once."""
    sign_up(page)
    send(page, "Add task: Water the plants")
    database = sqlite3.connect(ui_app.database_url.removeprefix("sqlite:///"), timeout=30)
    try:
        database.execute("ALTER TABLE idempotency_keys RENAME TO idempotency_keys_away")
        database.commit()
        page.fill("#composer", "Add task: Buy stamps")
        page.press("#composer", "Enter")
        expect(page.locator("#turn-error")).to_contain_text("database is unavailable")
        expect(page.locator("#retry-button")).to_be_visible()
        expect(user_messages(page)).to_have_count(2)
        expect(user_messages(page).last).to_have_class(re.compile(r"\bpending\b"))  # shown, marked not sent
        expect(user_messages(page).last).to_contain_text("Not sent")
        page.mouse.move(0, 0)
        shot(page, "not-sent-light.png")
    finally:
        database.execute("ALTER TABLE idempotency_keys_away RENAME TO idempotency_keys")
        database.commit()
        database.close()
    page.click("#retry-button")
    expect(assistant_messages(page)).to_have_count(2)
    expect(page.locator("#turn-error")).to_have_count(0)
    expect(user_messages(page)).to_have_count(2)
    expect(assistant_messages(page).last.locator(".markdown")).to_contain_text("Buy stamps")
    stored = stored_messages(page, ui_app)
    assert [m["content"] for m in stored if m["role"] == "user"] == ["Add task: Water the plants", "Add task: Buy stamps"]
    send(page, "Add task: Buy stamps")  # the same words sent again later are a new message
    assert [m["content"] for m in stored_messages(page, ui_app) if m["role"] == "user"].count("Add task: Buy stamps") == 2


class FlakySocket:
    """Routes the page's websocket through the test. The first time the
    page sends a message, the browser's side of the connection drops right
    after the event left it, before any answer comes back; the server's
    side stays half-open, as after a real network drop, so Reflex takes the
    reconnecting page for a new tab and gives it a fresh state. The page
    reconnects by itself (through here again, untouched)."""

    def __init__(self) -> None:
        self.connections = 0
        self.dropped = False

    def route(self, ws: WebSocketRoute) -> None:
        self.connections += 1
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            server.send(message)
            if not self.dropped and isinstance(message, str) and "turn_state.send" in message:
                self.dropped = True
                ws.close(code=1001, reason="flaky network")

        ws.on_message(to_server)
        server.on_message(lambda message: ws.send(message))


@pytest.mark.browser
def test_a_dropped_connection_mid_send_then_sending_again_stores_the_message_once(page: Page, ui_app: UiApp) -> None:
    flaky = FlakySocket()
    page.route_web_socket(re.compile(r"/_event"), flaky.route)
    sign_up(page)
    page.fill("#composer", "Add task: Post the letters")
    page.press("#composer", "Enter")
    deadline = time.monotonic() + 30
    while flaky.connections < 2:  # the page reconnects by itself
        assert time.monotonic() < deadline, vars(flaky)
        page.wait_for_timeout(100)
    expect(page.locator("#composer")).to_be_enabled()
    page.wait_for_timeout(1500)  # the turn that did arrive finishes meanwhile, unseen by this page
    # The page lost its state: nothing says the message went; the text is still in the box.
    seen_after_drop = {"user_messages": user_messages(page).count(), "composer": page.locator("#composer").input_value()}
    page.mouse.move(0, 0)
    shot(page, "flaky-after-drop.png")
    if seen_after_drop["composer"] != "Add task: Post the letters":
        page.fill("#composer", "Add task: Post the letters")
    page.press("#composer", "Enter")  # so the person sends it again
    expect(assistant_messages(page)).to_have_count(1)
    expect(page.locator("#live-reply")).to_have_count(0)
    expect(user_messages(page)).to_have_count(1)
    expect(page).to_have_url(CONVERSATION_URL)
    stored = stored_messages(page, ui_app)
    assert [m["content"] for m in stored if m["role"] == "user"] == ["Add task: Post the letters"], stored
    page.reload()
    expect(user_messages(page)).to_have_count(1)
    expect(sidebar_rows(page)).to_have_count(1)
    expect(page.locator("#pending-tasks .task-row")).to_have_count(1)
    record_fact("dropped_connection_mid_send", {**seen_after_drop, "connections": flaky.connections,
                                                "stored_user_messages": 1})

    send(page, "Add task: Post the letters")  # typed anew after it went through: a new message, a new key
    assert [m["content"] for m in stored_messages(page, ui_app) if m["role"] == "user"].count("Add task: Post the letters") == 2


@pytest.mark.browser
def test_regenerate_replaces_the_last_reply(page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    send(page, "Add task: Buy groceries")
    expect(assistant_messages(page).last.locator(".markdown")).to_contain_text("task 1")
    expect(page.locator("#regenerate-button")).to_have_count(1)
    expect(assistant_messages(page).last.locator("#regenerate-button")).to_be_visible()

    record_live(page)
    page.click("#regenerate-button")
    expect(page.locator("#live-reply")).to_have_count(0)
    expect(assistant_messages(page).last.locator(".markdown")).to_contain_text("task 2")  # the tool ran again
    assert recorded(page)["texts"], "the new reply streamed in a live bubble"
    expect(user_messages(page)).to_have_count(1)
    expect(assistant_messages(page)).to_have_count(1)
    expect(page.locator("#message-1[data-role=user]")).to_have_count(1)
    expect(page.locator("#message-2[data-role=assistant]")).to_have_count(1)  # seq stays gap-free
    expect(assistant_messages(page).last.locator(".tool-card[data-tool=add_task]")).to_have_count(1)
    expect(page.locator("#pending-tasks .task-row")).to_have_count(2)
    stored = stored_messages(page, ui_app)
    assert [(m["seq"], m["role"]) for m in stored] == [(1, "user"), (2, "assistant")]
    assert "task 2" in stored[-1]["content"]

    before = thread_texts(page)
    page.reload()
    expect(assistant_messages(page)).to_have_count(1)
    assert thread_texts(page) == before
    expect(page.locator("#regenerate-button")).to_be_visible()

    send(page, "what's on my list?")  # only the newest reply can be regenerated
    expect(page.locator("#regenerate-button")).to_have_count(1)
    expect(assistant_messages(page).last.locator("#regenerate-button")).to_be_visible()


@pytest.mark.browser
def test_agent_failure_shows_the_failed_answer_with_retry(browser: Browser, failing_app: UiApp) -> None:
    """A failed turn stores the message and a failed answer; the thread
    shows the answer's error with Retry, which answers the stored message
    again in the failed answer's place (never storing the message twice)."""
    with open_context(browser, failing_app) as context:
        page = context.new_page()
        sign_up(page)
        page.fill("#composer", "Add task: Buy groceries")
        page.press("#composer", "Enter")
        failed = assistant_messages(page).last
        expect(failed).to_have_attribute("data-status", "failed")
        expect(failed.locator(".answer-error")).to_contain_text("failed to answer")
        expect(page.locator("#retry-answer")).to_be_visible()
        expect(page.locator("#regenerate-button")).to_have_count(0)
        expect(page.locator("#turn-error")).to_have_count(0)  # the answer says it; no second notice
        conversation_id(page)  # the stored message made a conversation
        expect(user_messages(page)).to_have_count(1)
        expect(user_messages(page).first).to_contain_text("Add task: Buy groceries")
        expect(user_messages(page).first.locator("time")).to_have_count(1)  # stored, not the optimistic copy
        expect(assistant_messages(page)).to_have_count(1)
        expect(page.locator("#composer")).to_be_enabled()
        answer_id = failed.get_attribute("data-answer-id")
        shot(page, "failed-light.png")

        page.click("#retry-answer")  # answers the stored message; it fails again
        expect(page.locator("#retry-answer")).to_be_visible()
        expect(assistant_messages(page)).to_have_count(1)
        expect(assistant_messages(page).last).to_have_attribute("data-status", "failed")
        expect(user_messages(page)).to_have_count(1)  # not stored twice
        stored = stored_messages(page, failing_app)
        assert [(m["seq"], m["role"], m["status"], m["error_code"]) for m in stored] == [
            (1, "user", "complete", None), (2, "assistant", "failed", "agent_error")]
        assert stored[1]["id"] == answer_id  # replaced in place

        page.reload()  # what is stored: the message and its failed answer
        expect(user_messages(page)).to_have_count(1)
        expect(assistant_messages(page).last.locator(".answer-error")).to_contain_text("failed to answer")
        page.click("#retry-answer")
        expect(page.locator("#live-reply")).to_have_count(0)
        expect(page.locator("#retry-answer")).to_be_visible()
        expect(user_messages(page)).to_have_count(1)
        expect(assistant_messages(page)).to_have_count(1)
        page.mouse.move(0, 0)
        shot(page, "error-light.png")


def expect_sign_in_page(page: Page) -> None:
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    expect(page.locator("#email-input")).to_be_visible()
    expect(page.locator("#password-input")).to_be_visible()
    expect(page.locator("#auth-submit")).to_be_visible()


def expect_chat_after_four_turns(page: Page) -> None:
    """What the screenshot of the chat is about: four turns, the tool card
    opened, the last reply in view, one task done and one left."""
    expect(user_messages(page)).to_have_count(4)
    expect(assistant_messages(page)).to_have_count(4)
    expect(page.locator(".tool-card[data-tool=complete_task]")).to_have_attribute("open", "")
    expect(assistant_messages(page).last).to_be_in_viewport()
    expect(assistant_messages(page).last).to_contain_text("Book dentist appointment")
    expect(page.locator("#chat-title")).to_contain_text("Buy groceries")
    expect(page.locator("#pending-tasks .task-row")).to_have_count(1)
    expect(page.locator("#pending-tasks .task-row")).to_contain_text("Book dentist appointment")
    expect(page.locator("#completed-tasks .task-row")).to_have_count(1)
    expect(page.locator("#completed-tasks .task-row")).to_contain_text("Buy groceries")


@pytest.mark.browser
def test_screenshots_light_dark_and_phone(browser: Browser, ui_app: UiApp) -> None:
    """The main screens, saved for people to look at, each checked for what
    it is meant to show: light or dark, the sign-in form, the empty state, a
    chat with its tasks, and the phone layout hiding the sidebar and the
    tasks behind their buttons."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    email = new_email("shots")
    with open_context(browser, ui_app, color_scheme="light") as light:
        page = light.new_page()
        page.goto("/login")
        expect_sign_in_page(page)
        expect_light(page)
        shot(page, "login-light.png")
        sign_up(page, email)
        expect(page.locator("#empty-state")).to_be_visible()
        expect(page.locator("#empty-state")).to_contain_text("What should we get done today?")
        expect(page.locator("#tasks-empty")).to_be_visible()
        expect_light(page)
        shot(page, "empty-light.png")
        send(page, "Add task: Buy groceries")
        send(page, "Add task: Book dentist appointment")
        send(page, "mark task 1 as done")
        send(page, "what's on my list?")
        page.locator(".tool-card[data-tool=complete_task] summary").click()
        page.locator("#thread").evaluate("thread => thread.scrollTo(0, thread.scrollHeight)")
        page.mouse.move(0, 0)
        chat_url = page.url
        expect_chat_after_four_turns(page)
        expect(page.locator("#sidebar")).to_be_in_viewport()
        expect(page.locator("#tasks-panel")).to_be_in_viewport()
        expect_light(page)
        shot(page, "chat-light.png")
        token = page.evaluate("window.localStorage.getItem('jwt')")

    with open_context(browser, ui_app, color_scheme="dark") as dark:
        page = dark.new_page()
        page.goto("/login")
        expect_sign_in_page(page)
        expect_dark(page)
        shot(page, "login-dark.png")
        use_token(page, token)
        page.goto(chat_url)
        expect(assistant_messages(page)).to_have_count(4)
        page.locator(".tool-card[data-tool=complete_task] summary").click()
        page.locator("#thread").evaluate("thread => thread.scrollTo(0, thread.scrollHeight)")
        page.mouse.move(0, 0)
        expect_chat_after_four_turns(page)
        expect_dark(page)
        shot(page, "chat-dark.png")

    with open_context(browser, ui_app, viewport=PHONE, color_scheme="light", is_mobile=True, has_touch=True) as phone:
        page = phone.new_page()
        page.goto("/login")
        use_token(page, token)
        page.goto(chat_url)
        expect(assistant_messages(page)).to_have_count(4)
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        expect(page.locator("#tasks-panel")).not_to_be_in_viewport()
        expect(page.locator("#menu-toggle")).to_be_visible()
        expect(page.locator("#tasks-toggle")).to_be_visible()
        expect(assistant_messages(page).last).to_be_in_viewport()
        expect_light(page)
        shot(page, "chat-phone.png")
        page.click("#menu-toggle")
        expect(page.locator("#sidebar")).to_be_in_viewport()
        expect(sidebar_rows(page)).to_have_count(1)
        expect(sidebar_rows(page).first).to_be_in_viewport()
        shot(page, "sidebar-phone.png")
        page.locator("#sidebar .only-narrow").click()
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        page.click("#tasks-toggle")
        expect(page.locator("#tasks-panel")).to_be_in_viewport()
        expect(page.locator("#completed-tasks .task-row")).to_have_count(1)
        expect(page.locator("#completed-tasks .task-row")).to_contain_text("Buy groceries")
        expect(page.locator("#pending-tasks .task-row")).to_have_count(1)
        expect(page.locator("#pending-tasks .task-row")).to_contain_text("Book dentist appointment")
        shot(page, "tasks-phone.png")
    assert all((SCREENSHOTS / name).stat().st_size > 10_000 for name in ("chat-light.png", "chat-dark.png", "chat-phone.png"))


STREAMING_TASKS = [
    "Buy groceries", "Book dentist appointment", "Renew passport", "Call the plumber about the leak",
    "Pay the electricity bill", "Water the plants", "Send the quarterly report", "Pick up dry cleaning",
    "Plan the weekend trip", "Return library books", "Fix the bike's back tyre", "Email the landlord",
    "Order printer ink", "Schedule car service", "Prepare slides for Monday", "Buy a birthday present for Sam",
]


def stream_until_words(page: Page, text: str) -> None:
    """Send `text` and come back while its reply is still streaming: the
    live bubble shows words and a live tool card, Stop is offered."""
    page.fill("#composer", text)
    page.press("#composer", "Enter")
    expect(page.locator("#live-text")).to_contain_text("Renew passport")  # a few lines in
    expect(page.locator("#live-reply .tool-card[data-tool=list_tasks]")).to_be_visible()
    expect(page.locator("#stop-button")).to_be_visible()
    expect(page.locator("#live-reply")).to_be_in_viewport()
    expect(page.locator("#composer")).to_be_disabled()
    page.mouse.move(0, 0)


def stop_reply(page: Page, replies_before: int) -> None:
    """Stop, and wait until the stopped reply is shown as stored."""
    page.click("#stop-button")
    expect(assistant_messages(page)).to_have_count(replies_before + 1)
    stopped = assistant_messages(page).last
    expect(stopped).to_have_attribute("data-status", "stopped")
    expect(stopped.locator(".stopped-label")).to_be_visible()
    expect(stopped.locator(".markdown")).to_contain_text("Renew passport")  # the words streamed before Stop
    expect(page.locator("#live-reply")).to_have_count(0)
    expect(page.locator("#stop-button")).to_have_count(0)
    page.mouse.move(0, 0)


@pytest.mark.browser
def test_screenshots_of_streaming_and_stopped_replies(browser: Browser, ui_app: UiApp) -> None:
    """A long reply (16 tasks listed, ~3 s at the test pace) caught while it
    streams, in light, dark and phone layouts, and after Stop."""
    email = new_email("stream-shots")
    with open_context(browser, ui_app, color_scheme="light") as light:
        page = light.new_page()
        sign_up(page, email)
        seed_tasks(page, ui_app, STREAMING_TASKS)
        send(page, "Add task: Call mum on Sunday")
        stream_until_words(page, "what's on my list?")
        expect_light(page)
        shot(page, "streaming-light.png")
        stop_reply(page, replies_before=1)
        shot(page, "stopped-light.png")
        chat_url = page.url
        token = page.evaluate("window.localStorage.getItem('jwt')")

    with open_context(browser, ui_app, color_scheme="dark") as dark:
        page = dark.new_page()
        page.goto("/login")
        use_token(page, token)
        page.goto(chat_url)
        expect(assistant_messages(page)).to_have_count(2)
        stream_until_words(page, "show all my tasks")
        expect_dark(page)
        shot(page, "streaming-dark.png")
        stop_reply(page, replies_before=2)
        shot(page, "stopped-dark.png")

    with open_context(browser, ui_app, viewport=PHONE, color_scheme="light", is_mobile=True, has_touch=True) as phone:
        page = phone.new_page()
        page.goto("/login")
        use_token(page, token)
        page.goto(chat_url)
        expect(assistant_messages(page)).to_have_count(3)
        stream_until_words(page, "what's on my list?")
        expect(page.locator("#sidebar")).not_to_be_in_viewport()
        shot(page, "streaming-phone.png")
        stop_reply(page, replies_before=3)
        shot(page, "stopped-phone.png")


def test_sign_in_on_the_web_ui_is_rate_limited_like_the_api(browser: Browser, failing_app: UiApp) -> None:
    context = open_context(browser, failing_app)
    page = context.new_page()
    try:
        email = sign_up(page)
        page.click("#sign-out")
        expect(page).to_have_url(re.compile(r"/login/?$"))
        for _ in range(UI_LOGIN_LIMIT):
            log_in(page, email, "Wrong-password-1")
            expect(page.locator("#auth-error")).to_have_text("Incorrect email or password.")
        log_in(page, email, PASSWORD)  # even the right password: the email is over its limit
        expect(page.locator("#auth-error")).to_contain_text("Too many")
        expect(page).to_have_url(re.compile(r"/login/?$"))
    finally:
        context.close()
