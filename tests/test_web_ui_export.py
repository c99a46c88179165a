"""Export, import and edit-and-resend in a real browser (headless Chromium
against `reflex run --env prod`, see tests/support/ui_app.py): the downloaded
files' contents, an import round trip, editing the last message (Enter
resends, Escape cancels, ↑ in an empty composer opens it), and Escape
stopping a streaming reply. One app instance serves the whole module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.api import without_ids_and_times
from tests.support.browser import (
    api_session, assistant_messages, conversation_id, send, sidebar_rows, sign_up, stored_messages, user_messages,
)
from tests.support.ui_app import UiApp

# Slow enough that a long reply ("help") is still streaming when Escape is pressed.
STREAM_DELAY_MS = 60


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiApp]:
    app = UiApp("export", tmp_path_factory.mktemp("ui-export"), extra_env={"OFFLINE_STREAM_DELAY_MS": str(STREAM_DELAY_MS)})
    try:
        yield app.start()
    finally:
        app.stop()


def download_export(page: Page, item: str) -> tuple[str, str]:
    """Open the conversation's menu, pick an export, return (file name, text).
    The menu from an earlier pick may still be closing: a click then would
    toggle it shut, so wait until it is gone and its item is shown again."""
    expect(page.locator(item)).to_have_count(0)
    page.click("#conversation-menu")
    expect(page.locator(item)).to_be_visible()
    with page.expect_download() as info:
        page.click(item)
    download = info.value
    path = download.path()
    return download.suggested_filename, Path(path).read_text(encoding="utf-8")


def api_export(page: Page, app: UiApp, conversation: str) -> dict:
    user_id, headers = api_session(page)
    response = httpx.get(f"{app.url}/api/{user_id}/conversations/{conversation}/export", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_export_downloads_the_conversation_as_json_and_markdown(page: Page) -> None:
    sign_up(page)
    send(page, "Add task: Buy oat milk")
    send(page, "what's left?")
    shown = conversation_id(page)

    name, text = download_export(page, "#export-json")
    document = json.loads(text)
    assert name == "add-task-buy-oat-milk.json"
    assert document["format_version"] == 1 and document["conversation"]["id"] == shown
    assert [m["role"] for m in document["messages"]] == ["user", "assistant", "user", "assistant"]
    assert document["messages"][0]["content"] == "Add task: Buy oat milk"
    call = document["messages"][1]["tool_calls"][0]
    assert call["tool_name"] == "add_task" and call["parameters"] == {"title": "Buy oat milk"}
    assert call["result"]["status"] == "created" and call["executed_at"]

    name, text = download_export(page, "#export-markdown")
    assert name == "add-task-buy-oat-milk.md"
    assert text.startswith("# Add task: Buy oat milk\n")
    assert text.count("## You · ") == 2 and text.count("<details>") == 2
    assert "<summary>Tool call: <code>add_task</code></summary>" in text


def test_import_round_trip_opens_the_imported_conversation(page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    send(page, "Add task: Buy oat milk")
    original = conversation_id(page)
    _, text = download_export(page, "#export-json")
    exported = json.loads(text)

    page.set_input_files("#import-upload input[type=file]", files=[
        {"name": "conversation.json", "mimeType": "application/json", "buffer": text.encode()}])
    expect(page).not_to_have_url(f"/chat/{original}")
    expect(sidebar_rows(page)).to_have_count(2)
    imported = conversation_id(page)
    assert imported != original
    expect(user_messages(page)).to_have_count(1)
    expect(assistant_messages(page).last.locator(".markdown")).to_contain_text("task 1")
    expect(page.locator(".tool-card[data-tool=add_task][data-imported=true]")).to_have_count(1)

    again = api_export(page, ui_app, imported)
    assert without_ids_and_times(again) == without_ids_and_times(exported)


def test_import_of_a_file_that_is_not_an_export_is_refused_and_stores_nothing(page: Page) -> None:
    sign_up(page)
    send(page, "hello")
    page.set_input_files("#import-upload input[type=file]", files=[
        {"name": "notes.json", "mimeType": "application/json", "buffer": b'{"not": "an export"}'}])
    expect(page.get_by_text("format_version")).to_be_visible()
    expect(sidebar_rows(page)).to_have_count(1)


def test_edit_and_resend_the_last_message(page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    send(page, "Add task: Buy milk")
    expect(assistant_messages(page).last.locator(".markdown")).to_contain_text("task 1")
    expect(page.locator("#edit-last-message")).to_have_count(1)

    page.click("#edit-last-message")
    page.fill("#edit-input", "Add task: Buy bread")
    page.press("#edit-input", "Enter")
    expect(page.locator("#edit-form")).to_have_count(0)
    expect(page.locator("#live-reply")).to_have_count(0)
    expect(assistant_messages(page).last.locator(".markdown")).to_contain_text("Buy bread")
    expect(user_messages(page).last.locator(".user-text")).to_have_text("Add task: Buy bread")
    expect(user_messages(page)).to_have_count(1)
    expect(assistant_messages(page)).to_have_count(1)
    stored = stored_messages(page, ui_app)
    assert [(m["seq"], m["role"], m["content"]) for m in stored][0] == (1, "user", "Add task: Buy bread")
    assert len(stored) == 2 and "Buy bread" in stored[1]["content"]


def test_arrow_up_in_an_empty_composer_edits_and_escape_cancels(page: Page) -> None:
    sign_up(page)
    send(page, "hello")
    send(page, "Add task: Water the plants")
    page.click("#composer")
    page.press("#composer", "ArrowUp")
    expect(page.locator("#edit-input")).to_have_value("Add task: Water the plants")
    expect(page.locator("#edit-input")).to_be_focused()
    page.fill("#edit-input", "something else")
    page.press("#edit-input", "Escape")
    expect(page.locator("#edit-form")).to_have_count(0)
    expect(user_messages(page).last.locator(".user-text")).to_have_text("Add task: Water the plants")
    expect(assistant_messages(page)).to_have_count(2)


def test_escape_stops_a_streaming_reply(page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    page.fill("#composer", "help")
    page.press("#composer", "Enter")
    expect(page.locator("#live-text")).not_to_be_empty()
    page.keyboard.press("Escape")
    expect(page.locator("#live-reply")).to_have_count(0)
    expect(assistant_messages(page).last).to_have_attribute("data-status", "stopped")
    assert stored_messages(page, ui_app)[-1]["status"] == "stopped"
