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

# Enter submits the form; Shift+Enter (and Enter while composing with an
# input method) keeps the browser's newline.
ENTER_SENDS = Var(
    _js_expr="""(e) => {
  if (e.key !== "Enter" || e.shiftKey || e.nativeEvent?.isComposing) return;
  e.preventDefault();
  if (!e.repeat && e.target.form) e.target.form.requestSubmit();
}"""
)
# Browsers with CSS `field-sizing: content` grow the box by themselves.
GROW_WITH_TEXT = Var(
    _js_expr="""(e) => {
  if (window.CSS?.supports?.("field-sizing", "content")) return;
  const el = e.target;
  el.style.height = "auto";
  el.style.height = el.scrollHeight + "px";
}"""
)


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
                        class_name="send-button",
                    ),
                    class_name="composer-box",
                ),
                on_submit=TurnState.send,
                reset_on_submit=False,
                id="composer-form",
            ),
            rx.hstack(
                rx.text("Enter to send · Shift+Enter for a new line", class_name="composer-hint"),
                counter(),
                justify="between",
                align="center",
                class_name="composer-meta",
            ),
            class_name="composer",
        ),
    )
