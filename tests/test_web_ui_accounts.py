"""The account menu in a real browser (headless Chromium against the whole
app, see tests/support/ui_app.py): sign out, sign out everywhere, change password,
export download, delete account with a password confirmation."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from chatapp.ui.account_state import ACCOUNT_DELETED, SIGNED_OUT_EVERYWHERE
from tests.support.browser import PASSWORD, api_session, log_in, open_context, send, shot, sign_up
from tests.support.ui_app import UiApp

NEW_PASSWORD = "Battery-staple-7"


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiApp]:
    app = UiApp("accounts", tmp_path_factory.mktemp("ui-accounts"))
    try:
        yield app.start()
    finally:
        app.stop()


@pytest.fixture
def context_options() -> dict[str, object]:
    return {"accept_downloads": True}


def menu(page: Page, item: str) -> None:
    page.click("#account-menu")
    page.click(f"#{item}")


def api_status(app: UiApp, user_id: str, headers: dict[str, str]) -> int:
    return httpx.get(f"{app.url}/api/{user_id}/conversations", headers=headers, timeout=30).status_code


def test_sign_out_signs_out_this_browser_only(page: Page, ui_app: UiApp) -> None:
    sign_up(page)
    user_id, headers = api_session(page)
    menu(page, "menu-sign-out")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert page.evaluate("window.localStorage.getItem('jwt')") in (None, "")
    assert api_status(ui_app, user_id, headers) == 200  # the token itself was not revoked


def test_sign_out_everywhere_signs_out_every_browser_and_revokes_the_tokens(
    browser: Browser, page: Page, ui_app: UiApp,  # noqa: F811
) -> None:
    email = sign_up(page)
    user_id, headers = api_session(page)
    other = open_context(browser, ui_app)
    try:
        other_page = other.new_page()
        log_in(other_page, email)
        expect(other_page).to_have_url(re.compile(r"/chat/?$"))
        menu(page, "menu-sign-out-everywhere")
        expect(page).to_have_url(re.compile(r"/login$"))
        expect(page.locator("#auth-notice")).to_have_text(SIGNED_OUT_EVERYWHERE)
        expect(page.locator("#auth-notice")).to_be_visible()
        expect(page.locator("#auth-submit")).to_be_visible()
        shot(page, "accounts-signed-out-everywhere.png")
        assert api_status(ui_app, user_id, headers) == 401
        other_page.reload()  # the other browser still holds its token: the page refuses it
        expect(other_page).to_have_url(re.compile(r"/login$"))
    finally:
        other.close()


def test_change_password_checks_the_current_one_and_keeps_this_browser_signed_in(
    browser: Browser, page: Page, ui_app: UiApp,  # noqa: F811
) -> None:
    email = sign_up(page)
    user_id, old_headers = api_session(page)
    menu(page, "menu-change-password")
    page.fill("#current_password-input", "Wrong-password-1")
    page.fill("#new_password-input", NEW_PASSWORD)
    page.click("#confirm-change-password")
    expect(page.locator("#account-error")).to_have_text("Current password is incorrect.")
    expect(page.locator("#account-error")).to_be_visible()
    expect(page.locator("#confirm-change-password")).to_be_visible()
    shot(page, "accounts-change-password-wrong.png")
    page.fill("#current_password-input", PASSWORD)
    page.click("#confirm-change-password")
    expect(page.locator("#change-password-form")).to_have_count(0)
    send(page, "hello")  # still signed in, with the fresh token
    _, new_headers = api_session(page)
    assert new_headers != old_headers
    assert api_status(ui_app, user_id, old_headers) == 401
    assert api_status(ui_app, user_id, new_headers) == 200
    fresh = open_context(browser, ui_app)
    try:
        fresh_page = fresh.new_page()
        log_in(fresh_page, email, PASSWORD)
        expect(fresh_page.locator("#auth-error")).to_be_visible()
        log_in(fresh_page, email, NEW_PASSWORD)
        expect(fresh_page).to_have_url(re.compile(r"/chat/?$"))
    finally:
        fresh.close()


def test_export_downloads_a_zip_of_the_account(page: Page) -> None:
    email = sign_up(page)
    send(page, "Add task: Buy milk")
    with page.expect_download() as started:
        menu(page, "menu-export")
    download = started.value
    assert download.suggested_filename.startswith("chatapp-export-") and download.suggested_filename.endswith(".zip")
    path = download.path()
    assert path is not None
    archive = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    assert json.loads(archive.read("account.json"))["account"]["email"] == email
    conversations = [name for name in archive.namelist() if name.startswith("conversations/")]
    assert len(conversations) == 1
    messages = json.loads(archive.read(conversations[0]))["messages"]
    assert [message["role"] for message in messages] == ["user", "assistant"]
    assert [task["title"] for task in json.loads(archive.read("tasks.json"))["tasks"]] == ["Buy milk"]


def test_delete_account_needs_the_password_then_erases_it(page: Page, ui_app: UiApp) -> None:
    email = sign_up(page)
    send(page, "Add task: Buy milk")
    user_id, headers = api_session(page)
    menu(page, "menu-delete-account")
    page.fill("#password-input", "Wrong-password-1")
    page.click("#confirm-delete-account")
    expect(page.locator("#account-error")).to_have_text("Current password is incorrect.")
    expect(page.locator("#account-error")).to_be_visible()
    expect(page.locator("#confirm-delete-account")).to_be_visible()
    shot(page, "accounts-delete-confirmation.png")
    assert api_status(ui_app, user_id, headers) == 200
    page.fill("#password-input", PASSWORD)
    page.click("#confirm-delete-account")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("#auth-notice")).to_have_text(ACCOUNT_DELETED)
    assert api_status(ui_app, user_id, headers) == 401
    log_in(page, email)
    expect(page.locator("#auth-error")).to_be_visible()
