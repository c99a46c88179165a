"""The thread: messages in order with relative timestamps (exact on hover),
assistant replies as Markdown with raw HTML switched off, tool-call cards,
a "load older" trigger at the top, and each answer's lifecycle: the one in
progress as a live bubble whose text and tool cards grow as the events
arrive, "Stopped" on an answer stopped part-way, a failed answer with its
error and Retry, Regenerate under the last answer; and the notice of a
message that could not be sent, with its resend.

Longer than two screens because it is one component tree: every part of a
message row reads the same row record, and pieces moved out would only be
called from here."""

from __future__ import annotations

import reflex as rx
from reflex.vars import Var

from chatapp.ui.sidebar_state import SidebarState
from chatapp.ui.thread_state import ThreadState
from chatapp.ui.turn_state import TurnState
from chatapp.ui.components.empty_state import empty_state
from chatapp.ui.components.timestamps import relative_time
from chatapp.ui.components.tool_card import tool_card
from chatapp.ui.views import MessageView, ToolCallView



def timestamp(message: rx.Var[MessageView]) -> rx.Component:
    return rx.cond(
        message.pending,
        rx.text(rx.cond(TurnState.idle, "Not sent", "Sending…"), class_name="timestamp"),
        relative_time(message.created_at),
    )


def copy_button(text: rx.Var[str], *, label: str, class_name: str) -> rx.Component:
    """Copies in the browser (navigator.clipboard), no round trip."""
    return rx.icon_button(
        rx.icon("copy", size=13),
        on_click=[rx.set_clipboard(text), rx.toast.success("Copied", duration=1500)],
        variant="ghost",
        color_scheme="gray",
        size="1",
        class_name=class_name,
        aria_label=label,
        title=label,
    )


def code_block(code: rx.Var[str], **props: object) -> rx.Component:
    """A fenced code block in a reply, with its own copy button."""
    return rx.code_block(
        code, can_copy=True, wrap_long_lines=True,
        copy_button=copy_button(code, label="Copy code", class_name="copy-code"), **props,
    )


def markdown(content: rx.Var[str]) -> rx.Component:
    """Message text is untrusted: no raw HTML (use_raw=False), and no math
    plugins that would eat dollar signs in ordinary sentences."""
    return rx.markdown(
        content, use_raw=False, use_math=False, use_katex=False, class_name="markdown", component_map={"pre": code_block},
    )


# In the edit box Enter resends and Escape cancels (Shift+Enter: a new line).
EDIT_KEYS = Var(
    _js_expr="""(e) => {
  if (e.key === "Escape") {
    e.preventDefault();
    e.stopPropagation();
    document.getElementById("edit-cancel")?.click();
    return;
  }
  if (e.key !== "Enter" || e.shiftKey || e.nativeEvent?.isComposing) return;
  e.preventDefault();
  if (!e.repeat) e.target.form?.requestSubmit();
}"""
)


def edit_form(message: rx.Var[MessageView]) -> rx.Component:
    """The last user message, editable in place: Enter (or Send) resends
    it, Escape (or Cancel) leaves it as it was."""
    return rx.form(
        rx.text_area(
            name="content",
            default_value=message.content,
            auto_focus=True,
            id="edit-input",
            rows="3",
            custom_attrs={"on_key_down": EDIT_KEYS},
            class_name="edit-input",
            aria_label="Edit message",
        ),
        rx.hstack(
            rx.button("Cancel", type="button", variant="soft", color_scheme="gray", size="1",
                      on_click=TurnState.cancel_edit, id="edit-cancel"),
            rx.button("Send", type="submit", size="1", id="edit-save"),
            spacing="2",
            justify="end",
        ),
        on_submit=TurnState.edit_resend,
        reset_on_submit=False,
        class_name="edit-form",
        id="edit-form",
    )


def edit_button(message: rx.Var[MessageView]) -> rx.Component:
    return rx.cond(
        (ThreadState.last_user_message == message.id) & TurnState.idle,
        rx.icon_button(
            rx.icon("pencil", size=12),
            on_click=TurnState.start_edit(message.id),
            variant="ghost",
            color_scheme="gray",
            size="1",
            id="edit-last-message",
            class_name="edit-button",
            aria_label="Edit message",
            title="Edit and resend (↑ in an empty composer)",
        ),
    )


def user_message(message: rx.Var[MessageView]) -> rx.Component:
    return rx.box(
        rx.cond(
            TurnState.editing_id == message.id,
            edit_form(message),
            rx.box(rx.text(message.content, class_name="user-text"), class_name="bubble"),
        ),
        rx.box(
            edit_button(message),
            copy_button(message.content, label="Copy message", class_name="copy-message"),
            timestamp(message),
            class_name="message-meta user-meta",
        ),
        class_name=rx.cond(
            message.pending, "message user pending",
            rx.cond(ThreadState.focus_id == message.id, "message user search-focus", "message user"),
        ),
        id=f"message-{message.seq}",
        custom_attrs={"data-role": "user", "data-message-id": message.id},
    )


def stopped_label() -> rx.Component:
    return rx.badge(
        rx.icon("circle-stop", size=12), "Stopped", color_scheme="amber", variant="soft", size="1", class_name="stopped-label"
    )


def in_progress_label() -> rx.Component:
    """An answer being written that this page does not follow (another
    turn of the same conversation)."""
    return rx.badge(
        rx.spinner(size="1"), "Writing…", color_scheme="gray", variant="soft", size="1", class_name="in-progress-label"
    )


def failed_answer(message: rx.Var[MessageView]) -> rx.Component:
    """Why the answer failed; the last one offers Retry (the service
    decides whether it can be retried)."""
    return rx.box(
        rx.icon("circle-alert", size=16, class_name="notice-icon"),
        rx.text(message.error, class_name="notice-text answer-error-text"),
        rx.cond(
            (ThreadState.last_answer == message.id) & TurnState.idle,
            rx.button(
                rx.icon("rotate-ccw", size=14),
                "Retry",
                on_click=TurnState.retry,
                size="1",
                color_scheme="red",
                variant="surface",
                id="retry-answer",
                title="Answer this message again",
            ),
        ),
        class_name="notice error answer-error",
        role="alert",
    )


def regenerate_button() -> rx.Component:
    return rx.button(
        rx.icon("refresh-cw", size=13),
        "Regenerate",
        on_click=TurnState.regenerate,
        variant="ghost",
        color_scheme="gray",
        size="1",
        id="regenerate-button",
        class_name="regenerate-button",
        title="Replace this reply with a new one",
    )


def tool_cards(calls: rx.Var[list[ToolCallView]]) -> rx.Component:
    return rx.cond(calls.length() > 0, rx.box(rx.foreach(calls, tool_card), class_name="tool-cards"))


def assistant_message(message: rx.Var[MessageView]) -> rx.Component:
    return rx.box(
        rx.box(rx.icon("bot", size=16), class_name="avatar"),
        rx.box(
            rx.cond(message.content != "", markdown(message.content)),
            tool_cards(message.tool_calls),
            rx.cond(message.status == "failed", failed_answer(message)),
            rx.box(
                timestamp(message),
                rx.cond(message.content != "", copy_button(message.content, label="Copy message", class_name="copy-message")),
                rx.cond(message.status == "stopped", stopped_label()),
                rx.cond(message.status == "in_progress", in_progress_label()),
                rx.cond(
                    (ThreadState.last_answer == message.id) & (message.status != "failed") & TurnState.idle,
                    regenerate_button(),
                ),
                class_name="message-meta",
            ),
            class_name="assistant-body",
        ),
        class_name=rx.cond(ThreadState.focus_id == message.id, "message assistant search-focus", "message assistant"),
        id=f"message-{message.seq}",
        custom_attrs={"data-role": "assistant", "data-status": message.status, "data-answer-id": message.id},
    )


@rx.memo
def message_row(message: rx.Var[MessageView]) -> rx.Component:
    """Its own React component, so the hooks of an assistant message's
    Markdown belong to that message and not to the list around it."""
    return rx.cond(message.role == "user", user_message(message), assistant_message(message))


def typing_dots() -> rx.Component:
    return rx.box(rx.box(class_name="dot"), rx.box(class_name="dot"), rx.box(class_name="dot"), class_name="typing")


def live_reply() -> rx.Component:
    """The reply as it streams: its text so far (Markdown, re-rendered as it
    grows; dots until the first words) and its tool calls, each card shown
    when the call starts and completed when its result arrives. Not a
    `data-role` message: it is replaced by the stored reply when the turn
    ends."""
    return rx.cond(
        ~TurnState.idle,
        rx.box(
            rx.box(rx.icon("bot", size=16), class_name="avatar"),
            rx.box(
                rx.cond(
                    TurnState.live_text != "",
                    rx.box(markdown(TurnState.live_text), class_name="live-text", id="live-text"),
                    typing_dots(),
                ),
                tool_cards(TurnState.live_calls),
                rx.cond(TurnState.phase == "stopping", rx.text("Stopping…", class_name="timestamp")),
                class_name="assistant-body",
            ),
            class_name="message assistant live",
            id="live-reply",
            custom_attrs={"aria-busy": "true", "data-answer-id": TurnState.live_answer},
        ),
    )


def load_older() -> rx.Component:
    """Fires on click, and on scroll-up (see thread_scroll.py)."""
    return rx.cond(
        ThreadState.has_older,
        rx.center(
            rx.button(
                rx.icon("arrow-up", size=14),
                "Load older messages",
                on_click=ThreadState.load_older,
                loading=ThreadState.loading_older,
                variant="ghost",
                size="1",
                id="load-older",
            ),
        ),
    )


def notice(
    icon: str, text: rx.Component, action: rx.Component, *, tone: str, notice_id: str
) -> rx.Component:
    """A one-line notice under the thread with its action on the right."""
    return rx.box(
        rx.icon(icon, size=16, class_name="notice-icon"),
        rx.box(text, class_name="notice-text"),
        action,
        class_name=f"notice {tone}",
        id=notice_id,
        role="alert" if tone == "error" else "status",
    )


def error_notice() -> rx.Component:
    """A message that could not be sent, or a failure no stored answer
    shows (the database down, the conversation deleted mid-turn). Retry
    resends the same text with the same Idempotency-Key, so it is stored at
    most once."""
    return rx.cond(
        TurnState.turn_error != "",
        notice(
            "circle-alert",
            rx.text(TurnState.turn_error, id="turn-error-text"),
            rx.cond(
                TurnState.can_resend,
                rx.button(
                    rx.icon("rotate-ccw", size=14),
                    "Retry",
                    on_click=TurnState.resend,
                    size="1",
                    color_scheme="red",
                    variant="surface",
                    disabled=~TurnState.idle,
                    id="retry-button",
                ),
            ),
            tone="error",
            notice_id="turn-error",
        ),
    )


def unanswered_notice() -> rx.Component:
    """The stored thread ends with a message that has no answer at all
    (stored before answers were stored with their message): offer one."""
    return rx.cond(
        ThreadState.unanswered & TurnState.idle,
        notice(
            "info",
            rx.text("This message has no reply yet."),
            rx.button(
                rx.icon("rotate-ccw", size=14),
                "Get a reply",
                on_click=TurnState.retry,
                size="1",
                variant="surface",
                id="answer-button",
            ),
            tone="info",
            notice_id="unanswered",
        ),
    )


def not_found() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("message-square", size=32, class_name="muted-icon"),
            rx.heading("Conversation not found", size="5"),
            rx.text("It may have been deleted, or it belongs to someone else.", color_scheme="gray", size="2"),
            rx.button("Start a new chat", on_click=SidebarState.new_chat, variant="soft"),
            align="center",
            spacing="3",
        ),
        id="not-found",
        class_name="not-found",
    )


def loading() -> rx.Component:
    return rx.center(rx.spinner(size="3"), class_name="thread-loading")


def thread() -> rx.Component:
    return rx.box(
        rx.cond(
            ~ThreadState.loaded,
            loading(),
            rx.cond(
                ThreadState.not_found,
                not_found(),
                rx.box(
                    load_older(),
                    rx.cond(ThreadState.is_empty & TurnState.idle, empty_state()),
                    rx.foreach(ThreadState.messages, lambda message: message_row(message=message)),
                    live_reply(),
                    error_notice(),
                    unanswered_notice(),
                    class_name="thread-inner",
                    id="thread-inner",
                ),
            ),
        ),
        class_name="thread",
        id="thread",
        key=ThreadState.current_id,
    )
