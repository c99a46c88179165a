"""The web UI's task history, copy buttons and live relative times, in
headless Chromium against the whole app (`reflex run --env prod`, SQLite,
the offline model), one app for the module. Helpers from tests/support/browser.py."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import insert

from chatapp.db import Conversation, Message
from chatapp.db.engine import make_engine
from chatapp.db.types import utcnow
from tests.support.browser import api_session, assistant_messages, conversation_id, send, shot, sign_up, user_messages
from tests.support.ui_app import UiApp

CODE = 'print("hello, clipboard")\nfor n in range(3):\n    print(n)'
REPLY_WITH_CODE = f"Here is the script:\n\n```python\n{CODE}\n```\n\nRun it with Python 3."


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiApp]:
    app = UiApp("audit", tmp_path_factory.mktemp("ui-audit"))
    try:
        yield app.start()
    finally:
        app.stop()


@pytest.fixture
def context_options() -> dict[str, object]:
    """The page may write and read the clipboard, as a person's browser lets it after a click."""
    return {"permissions": ["clipboard-read", "clipboard-write"]}


def clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def stored_answer_ids(page: Page, app: UiApp) -> list[str]:
    user_id, headers = api_session(page)
    response = httpx.get(f"{app.url}/api/{user_id}/conversations/{conversation_id(page)}", headers=headers, timeout=30)
    return [m["id"] for m in response.json()["messages"] if m["role"] == "assistant"]


def history_labels(page: Page) -> list[str]:
    return page.locator("#task-history .task-event-label").all_inner_texts()


@pytest.mark.browser
def test_a_tasks_history_shows_each_change_with_a_link_to_its_turn(page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    send(page, "Add task: Buy groceries")
    send(page, "Add task: Call mom")
    send(page, "Rename task 1 to Buy oat milk")
    send(page, "mark task 1 as done")
    page.click("#task-1 .task-history-button")
    expect(page.locator("#task-history-title")).to_have_text("Task #1: Buy oat milk")
    expect(page.locator("#task-history .task-event")).to_have_count(3)
    assert history_labels(page) == ["Completed", "Renamed", "Created"]
    send(page, "delete task 1")
    # The open history follows the turn: the deletion joins it, newest first.
    expect(page.locator("#task-history .task-event")).to_have_count(4)
    assert history_labels(page) == ["Deleted", "Completed", "Renamed", "Created"]
    expect(page.locator("#task-1")).to_have_count(0)
    expect(page.locator("#task-history")).to_be_visible()
    expect(page.locator("#task-history .task-event").first).to_be_in_viewport()
    shot(page, "task-history.png")
    answers = stored_answer_ids(page, ui_app)  # Buy groceries, Call mom, rename, done, delete
    links = page.locator("#task-history .task-event-link")
    hrefs = [links.nth(n).get_attribute("href") for n in range(4)]
    here = conversation_id(page)
    assert hrefs == [f"/chat/{here}#answer-{answers[n]}" for n in (4, 3, 2, 0)]


@pytest.mark.browser
def test_a_deleted_tasks_history_opens_from_recent_changes(page: Page) -> None:
    sign_up(page)
    send(page, "Add task: Water the plants")
    send(page, "delete task 1")
    recent = page.locator("#recent-changes .task-event")
    expect(recent).to_have_count(2)
    assert recent.locator(".task-event-label").all_inner_texts() == ["Deleted", "Created"]
    recent.first.locator(".task-event-task").click()
    expect(page.locator("#task-history-title")).to_have_text("Task #1: Water the plants")
    assert history_labels(page) == ["Deleted", "Created"]
    page.click("#task-history-close")
    expect(page.locator("#task-history")).to_have_count(0)
    expect(page.locator("#recent-changes")).to_be_visible()


@pytest.mark.browser
def test_a_turn_link_in_the_history_opens_its_conversation(page: Page) -> None:
    sign_up(page)
    send(page, "Add task: Book the dentist")
    first = conversation_id(page)
    page.click("#new-chat")
    expect(page).to_have_url(re.compile(r"/chat/?$"))
    send(page, "mark task 1 as done", replies_before=0)
    page.click("#task-1 .task-history-button")
    expect(page.locator("#task-history .task-event")).to_have_count(2)
    page.locator("#task-history .task-event-link").last.click()
    expect(page).to_have_url(re.compile(rf"/chat/{first}#answer-"))
    expect(user_messages(page)).to_have_count(1)
    expect(user_messages(page).first).to_contain_text("Add task: Book the dentist")


@pytest.mark.browser
def test_the_copy_button_puts_a_message_on_the_clipboard(page: Page) -> None:
    sign_up(page)
    send(page, "Add task: Buy groceries")
    user_messages(page).first.locator(".copy-message").click()
    expect(page.get_by_text("Copied")).to_be_visible()
    assert clipboard(page) == "Add task: Buy groceries"
    reply = assistant_messages(page).first
    reply.locator(".copy-message").click()
    assert clipboard(page) == reply.locator(".markdown").inner_text().strip()
    assert "Buy groceries" in clipboard(page)


@pytest.mark.browser
def test_the_copy_button_of_a_code_block_copies_just_the_code(page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    user_id, _headers = api_session(page)
    conversation = uuid.uuid4()
    now = utcnow()
    engine = make_engine(ui_app.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(Conversation).values(
                id=conversation, user_id=uuid.UUID(user_id), title="A script", last_seq=2, created_at=now, updated_at=now,
            ))
            connection.execute(insert(Message), [
                {"id": uuid.uuid4(), "conversation_id": conversation, "seq": 1, "role": "user",
                 "content": "Write me a script", "status": "complete", "created_at": now},
                {"id": uuid.uuid4(), "conversation_id": conversation, "seq": 2, "role": "assistant",
                 "content": REPLY_WITH_CODE, "status": "complete", "created_at": now},
            ])
    finally:
        engine.dispose()
    page.goto(f"/chat/{conversation}")
    reply = assistant_messages(page).first
    expect(reply.locator(".copy-code")).to_have_count(1)
    expect(reply.locator(".copy-code")).to_be_visible()
    expect(reply).to_contain_text('print("hello, clipboard")')
    shot(page, "code-block-copy.png")
    reply.locator(".copy-code").click()
    assert clipboard(page) == CODE
    reply.locator(".copy-message").click()
    assert clipboard(page) == REPLY_WITH_CODE


@pytest.mark.browser
def test_relative_times_move_on_while_the_page_is_open(page: Page) -> None:
    page.clock.install()  # the page's timers run on a clock the test moves
    sign_up(page)
    send(page, "Add task: Buy groceries")
    stamp = user_messages(page).first.locator(".timestamp")
    expect(stamp).to_have_text("a few seconds ago")
    page.clock.run_for("03:10")
    expect(stamp).to_have_text("3 minutes ago")
    page.clock.run_for("01:00:00")
    expect(stamp).to_have_text("an hour ago")
