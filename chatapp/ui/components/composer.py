"""The composer: multi-line, Enter sends and Shift+Enter is a newline,
disabled while a turn runs, with a character counter that turns into a clear
message past the service's 5000-character limit. While a reply streams, a
Stop button floats above it (not in the send button's place, where a
double-click on Send would land on it).

Enter-to-send and auto-height are small browser handlers here rather than
Reflex's `enter_key_submit` / `auto_height` props: a controlled text area is
wrapped in a DebounceInput, which leaks those two props onto the DOM.
"""

from __future__ import annotations

import reflex as rx
from reflex.vars import Var

from chatapp.services.turns import MAX_MESSAGE_CHARS
from chatapp.ui.thread_state import ThreadState
from chatapp.ui.turn_state import TurnState

# The counter appears once a message gets this long.
COUNTER_FROM = MAX_MESSAGE_CHARS - 1000

# The message's Idempotency-Key is made here, in the browser, when a message
# is begun (the first keystroke after a send), and goes with the form. A
# send that is repeated without new typing (the connection dropped and the
# person presses Enter again, even on a page that lost its server state)
# carries the same key, so the service stores the message once.
KEY_FOR_NEW_MESSAGE = """const key = el.form?.elements?.key;
  if (key && (!key.value || key.dataset.sent === "1")) {
    key.value = window.crypto?.randomUUID?.() ?? (Date.now().toString(36) + Math.random().toString(36).slice(2));
    key.dataset.sent = "";
  }"""
MARK_SENT = """const key = form?.elements?.key;
  if (key) key.dataset.sent = "1";"""
# Enter submits the form; Shift+Enter (and Enter while composing with an
# input method) keeps the browser's newline. ↑ in an empty composer edits
# the last message sent, as in ChatGPT and Slack.
ENTER_SENDS = Var(
    _js_expr="""(e) => {
  if (e.key === "ArrowUp" && !e.target.value && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
    const edit = document.getElementById("edit-last-message");
    if (edit) {
      e.preventDefault();
      edit.click();
    }
    return;
  }
  if (e.key !== "Enter" || e.shiftKey || e.nativeEvent?.isComposing) return;
  e.preventDefault();
  const form = e.target.form;
  if (e.repeat || !form) return;
  """ + MARK_SENT + """
  form.requestSubmit();
}"""
)
SEND_CLICKED = Var(
    _js_expr="""(e) => {
  const form = e.currentTarget.form;
  """ + MARK_SENT + """
}"""
)
# Browsers with CSS `field-sizing: content` grow the box by themselves.
GROW_WITH_TEXT = Var(
    _js_expr="""(e) => {
  const el = e.target;
  """ + KEY_FOR_NEW_MESSAGE + """
  if (window.CSS?.supports?.("field-sizing", "content")) return;
  el.style.height = "auto";
  el.style.height = el.scrollHeight + "px";
}"""
)


# Escape anywhere on the chat page stops a streaming reply (the edit box
# handles its own Escape and keeps it from reaching here). Installed once
# per page load by the chat page's on_mount.
ESCAPE_STOPS_JS = """
if (!window.__escapeStops) {
  window.__escapeStops = true;
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || e.defaultPrevented) return;
    const stop = document.getElementById("stop-button");
    if (stop && !stop.disabled) {
      e.preventDefault();
      stop.click();
    }
  });
}
"""


def counter() -> rx.Component:
    return rx.cond(
        TurnState.over_limit,
        rx.text(
            "Too long: ",
            TurnState.draft_length,
            f" / {MAX_MESSAGE_CHARS:,} characters. Shorten your message to send it.",
            class_name="char-counter over",
            id="char-limit",
            role="status",
        ),
        rx.cond(
            TurnState.draft_length >= COUNTER_FROM,
            rx.text(TurnState.draft_length, f" / {MAX_MESSAGE_CHARS:,}", class_name="char-counter", id="char-counter"),
        ),
    )


def stop_button() -> rx.Component:
    return rx.cond(
        TurnState.streaming,
        rx.box(
            rx.button(
                rx.cond((TurnState.phase == "stopping"), rx.spinner(size="1"), rx.icon("square", size=12, fill="currentColor")),
                rx.cond((TurnState.phase == "stopping"), "Stopping…", "Stop"),
                type="button",
                on_click=TurnState.stop,
                disabled=(TurnState.phase == "stopping"),
                variant="surface",
                color_scheme="gray",
                radius="full",
                size="2",
                id="stop-button",
                class_name="stop-button",
                title="Stop the reply here; what it wrote so far is kept",
            ),
            class_name="stop-row",
        ),
    )


def composer() -> rx.Component:
    return rx.cond(
        ThreadState.not_found,
        rx.fragment(),
        rx.box(
            stop_button(),
            rx.form(
                rx.box(
                    rx.text_area(
                        id="composer",
                        name="message",
                        value=TurnState.draft,
                        on_change=TurnState.set_draft,
                        custom_attrs={"on_key_down": ENTER_SENDS, "on_input": GROW_WITH_TEXT},
                        rows="1",
                        placeholder="Message the assistant…",
                        disabled=~TurnState.idle,
                        variant="soft",
                        size="3",
                        class_name="composer-input",
                        aria_label="Message",
                    ),
                    rx.icon_button(
                        rx.cond(~TurnState.idle, rx.spinner(size="2"), rx.icon("arrow-up", size=18)),
                        type="submit",
                        size="3",
                        radius="full",
                        disabled=~TurnState.idle | TurnState.over_limit,
                        id="send-button",
                        aria_label="Send",
                        custom_attrs={"on_click": SEND_CLICKED},
                        class_name="send-button",
                    ),
                    rx.el.input(type="hidden", name="key", id="composer-key"),
                    class_name="composer-box",
                ),
                on_submit=TurnState.send,
                reset_on_submit=False,
                id="composer-form",
            ),
            rx.hstack(
                rx.text("Enter to send · Shift+Enter for a new line · ↑ to edit · Esc to stop", class_name="composer-hint"),
                counter(),
                justify="between",
                align="center",
                class_name="composer-meta",
            ),
            class_name="composer",
        ),
    )
