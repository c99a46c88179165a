"""Chromium against the whole app, and what a person does there.

Fixtures (registered for every test module by tests/conftest.py): `browser`,
one headless Chromium per module; `context`, a fresh browser profile per test
on the module's own `ui_app` fixture, with `context_options` for a module to
override; and `page`, which fails its test on any uncaught script error.
The helpers sign up, send and read the page the way a person would.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from chatapp.db.engine import make_engine
from chatapp.services import tasks as task_service
from tests.support.paths import ARTIFACTS
from tests.support.ui_app import UiApp

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ARTIFACTS / "screenshots"
PASSWORD = "Correct-horse-9"
DESKTOP = {"width": 1400, "height": 860}
PHONE = {"width": 390, "height": 844}
CONVERSATION_URL = re.compile(r"/chat/[0-9a-f-]{36}$")
# Milliseconds the main instance's offline model waits before each streamed
# word: "help" (36 words) then streams for about a second.
STREAM_DELAY_MS = 25

expect.set_options(timeout=30_000)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_context(browser: Browser, app: UiApp, **options: object) -> BrowserContext:
    options.setdefault("viewport", DESKTOP)
    context = browser.new_context(base_url=app.url, **options)  # type: ignore[arg-type]
    context.set_default_timeout(30_000)
    return context


@pytest.fixture
def context_options() -> dict[str, object]:
    """Options for a module's browser contexts (permissions, downloads); override it."""
    return {}


@pytest.fixture
def context(browser: Browser, ui_app: UiApp, context_options: dict[str, object],
            request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh browser (its own localStorage) on the module's `ui_app`."""
    context = open_context(browser, ui_app, **context_options)
    yield context
    save_last_screens(context, request.node.name)
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails its test on any uncaught script error."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"script errors on the page: {errors}"


def save_last_screens(context: BrowserContext, test_name: str) -> None:
    """What each page looked like when the test ended, for debugging."""
    folder = ARTIFACTS / "last-screens"
    folder.mkdir(parents=True, exist_ok=True)
    for index, open_page in enumerate(context.pages):
        with contextlib.suppress(Exception):  # a closed page has nothing to show
            open_page.screenshot(path=str(folder / f"{test_name}-{index}.png"))


# ---------------------------------------------------------------- helpers


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), animations="disabled")


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def sign_up(page: Page, email: str | None = None, password: str = PASSWORD) -> str:
    email = email or new_email()
    page.goto("/signup")
    page.fill("#email-input", email)
    page.fill("#password-input", password)
    page.click("#auth-submit")
    expect(page).to_have_url(re.compile(r"/chat/?$"))
    expect(page.locator("#account-email")).to_have_text(email)
    return email


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email-input", email)
    page.fill("#password-input", password)
    page.click("#auth-submit")


def assistant_messages(page: Page):
    return page.locator("[data-role=assistant]")


def user_messages(page: Page):
    return page.locator("[data-role=user]")


def send(page: Page, text: str, *, replies_before: int | None = None) -> None:
    """Type into the composer, press Enter, wait for the reply."""
    replies = assistant_messages(page).count() if replies_before is None else replies_before
    page.fill("#composer", text)
    page.press("#composer", "Enter")
    expect(assistant_messages(page)).to_have_count(replies + 1)
    expect(page.locator("#live-reply")).to_have_count(0)
    expect(page.locator("#composer")).to_be_enabled()


def sidebar_rows(page: Page):
    return page.locator("#conversation-list .conversation-row")


def conversation_id(page: Page) -> str:
    expect(page).to_have_url(CONVERSATION_URL)
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def thread_texts(page: Page) -> list[str]:
    return page.locator(".user-text, [data-role=assistant] .markdown").all_inner_texts()


# Records, in the page, every state of the live bubble as it changes: its
# text, its tool cards, whether a stored reply was on screen yet, whether
# Stop was offered and whether the tasks panel had a row. With
# `stop_on_text`, it also clicks Stop the moment the first words show (a
# Playwright poll could miss a reply that lasts a second).
RECORD_LIVE = """stopOnText => {
  const seen = window.__live = {texts: [], tools: [], stopAt: null, tasksDuring: 0, stopShown: false};
  const record = () => {
    const bubble = document.getElementById('live-reply');
    if (!bubble) return;
    const stored = document.querySelectorAll('[data-role=assistant]').length;
    const text = document.getElementById('live-text')?.innerText.trim() ?? '';
    const last = seen.texts[seen.texts.length - 1];
    if (!last || last.text !== text) seen.texts.push({text, stored});
    bubble.querySelectorAll('.tool-card').forEach(card => {
      const state = card.dataset.tool + ':' + card.dataset.pending;
      if (!seen.tools.includes(state)) seen.tools.push(state);
    });
    seen.tasksDuring = Math.max(seen.tasksDuring, document.querySelectorAll('#pending-tasks .task-row').length);
    const stop = document.getElementById('stop-button');
    if (stop) seen.stopShown = true;
    if (stopOnText && text && stop && seen.stopAt === null) {
      seen.stopAt = text;
      stop.click();
    }
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def record_live(page: Page, *, stop_on_text: bool = False) -> None:
    page.evaluate(RECORD_LIVE, stop_on_text)


def recorded(page: Page) -> dict:
    return page.evaluate("window.__live")


def api_session(page: Page) -> tuple[str, dict[str, str]]:
    """The signed-in user's id and auth header, for reading what is stored."""
    token = page.evaluate("window.localStorage.getItem('jwt')")
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    return user_id, {"Authorization": f"Bearer {token}"}


def use_token(page: Page, token: str) -> None:
    """Sign this browser in with `token`, set before each page's own scripts
    run: the sign-in page's on_load, finishing late, cannot clear it."""
    page.context.add_init_script(f"window.localStorage.setItem('jwt', {json.dumps(token)})")


def stored_messages(page: Page, app: UiApp) -> list[dict]:
    user_id, headers = api_session(page)
    response = httpx.get(f"{app.url}/api/{user_id}/conversations/{conversation_id(page)}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


# Enough tasks that listing them streams for several seconds at the test
# pace: time to reload or open a second tab mid-reply.
ERRANDS = [f"Errand number {number} for the week" for number in range(1, 41)]


FACTS = ARTIFACTS / "ui-turn-facts.json"


def seed_tasks(page: Page, app: UiApp, titles: list[str]) -> None:
    user_id, _headers = api_session(page)
    engine = make_engine(app.database_url)
    try:
        for title in titles:
            task_service.add_task(engine, user_id=uuid.UUID(user_id), title=title)
    finally:
        engine.dispose()


def record_fact(name: str, value: object) -> None:
    """Measured in the browser tests, kept for people to read."""
    facts = json.loads(FACTS.read_text()) if FACTS.exists() else {}
    facts[name] = value
    FACTS.write_text(json.dumps(facts, indent=2))


def start_long_reply(page: Page, ui_app: UiApp) -> None:
    """A conversation whose next reply lists 40 tasks: streaming, mid-way."""
    seed_tasks(page, ui_app, ERRANDS)
    send(page, "Add task: Call mum on Sunday")
    page.fill("#composer", "what's on my list?")
    page.press("#composer", "Enter")
    expect(page.locator("#live-text")).to_contain_text("Errand number 3 ")


# The background behind the top-left corner, from the element there up to
# the first one that paints a colour; as relative luminance, 0 to 1.
BACKGROUND_LUMINANCE = """() => {
  let element = document.elementFromPoint(2, 2);
  while (element) {
    const colour = getComputedStyle(element).backgroundColor;
    const [r, g, b, a = 1] = (colour.match(/[\\d.]+/g) || []).map(Number);
    if (colour && a > 0) return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    element = element.parentElement;
  }
  return 1;  // nothing painted: the browser's white
}"""


def background_luminance(page: Page) -> float:
    """How light the page looks, 0 (black) to 1 (white): what tells a
    dark-mode screenshot from a light one."""
    return page.evaluate(BACKGROUND_LUMINANCE)


def expect_luminance(page: Page, comparison: str) -> None:
    """Waits (bounded) for the page to look light or dark: the colour mode is
    applied by a script after the first paint, so the first frame of a
    freshly loaded dark page can still be the browser's white."""
    try:
        page.wait_for_function(f"({BACKGROUND_LUMINANCE})() {comparison}", timeout=10_000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"background luminance {background_luminance(page)} is not {comparison}") from None


def expect_light(page: Page) -> None:
    expect_luminance(page, "> 0.6")


def expect_dark(page: Page) -> None:
    expect_luminance(page, "< 0.4")
