"""The thread: messages in order with relative timestamps (exact on hover),
assistant replies as Markdown with raw HTML switched off, tool-call cards,
a "load older" trigger at the top and the error notice with its retry."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.chat_state import ChatState
from chatapp.ui.components.empty_state import empty_state
from chatapp.ui.components.tool_card import tool_card
from chatapp.ui.views import MessageView

EXACT_TIME = "dddd, D MMMM YYYY, HH:mm:ss"


def timestamp(message: rx.Var[MessageView]) -> rx.Component:
    return rx.cond(
        message.pending,
        rx.text(rx.cond(ChatState.running, "Sending…", "Not confirmed"), class_name="timestamp"),
        rx.moment(
            message.created_at,
            from_now=True,
            with_title=True,
            title_format=EXACT_TIME,
            class_name="timestamp",
        ),
    )


def markdown(content: rx.Var[str]) -> rx.Component:
    """Message text is untrusted: no raw HTML (use_raw=False), and no math
    plugins that would eat dollar signs in ordinary sentences."""
    return rx.markdown(content, use_raw=False, use_math=False, use_katex=False, class_name="markdown")


def user_message(message: rx.Var[MessageView]) -> rx.Component:
    return rx.box(
        rx.box(rx.text(message.content, class_name="user-text"), class_name="bubble"),
        timestamp(message),
        class_name=rx.cond(message.pending, "message user pending", "message user"),
        id=f"message-{message.seq}",
        custom_attrs={"data-role": "user"},
    )


def assistant_message(message: rx.Var[MessageView]) -> rx.Component:
    return rx.box(
        rx.box(rx.icon("bot", size=16), class_name="avatar"),
        rx.box(
            markdown(message.content),
            rx.cond(
                message.tool_calls.length() > 0,
                rx.box(rx.foreach(message.tool_calls, tool_card), class_name="tool-cards"),
            ),
            timestamp(message),
            class_name="assistant-body",
        ),
        class_name="message assistant",
        id=f"message-{message.seq}",
        custom_attrs={"data-role": "assistant"},
    )


@rx.memo
def message_row(message: rx.Var[MessageView]) -> rx.Component:
    """Its own React component, so the hooks of an assistant message's
    Markdown belong to that message and not to the list around it."""
    return rx.cond(message.role == "user", user_message(message), assistant_message(message))


def thinking() -> rx.Component:
    return rx.cond(
        ChatState.running,
        rx.box(
            rx.box(rx.icon("bot", size=16), class_name="avatar"),
            rx.box(rx.box(class_name="dot"), rx.box(class_name="dot"), rx.box(class_name="dot"), class_name="typing"),
            class_name="message assistant",
            id="thinking",
        ),
    )


def load_older() -> rx.Component:
    """Fires on click, and on scroll-up (see thread_scroll.py)."""
    return rx.cond(
        ChatState.has_older,
        rx.center(
            rx.button(
                rx.icon("arrow-up", size=14),
                "Load older messages",
                on_click=ChatState.load_older,
                loading=ChatState.loading_older,
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
    """A failed turn (agent error, timeout, database down): the message
    stays above, the retry answers it."""
    return rx.cond(
        ChatState.show_error,
        notice(
            "circle-alert",
            rx.text(ChatState.error, id="turn-error-text"),
            rx.cond(
                ChatState.can_retry,
                rx.button(
                    rx.icon("rotate-ccw", size=14),
                    "Retry",
                    on_click=ChatState.retry,
                    size="1",
                    color_scheme="red",
                    variant="surface",
                    disabled=ChatState.running,
                    id="retry-button",
                ),
            ),
            tone="error",
            notice_id="turn-error",
        ),
    )


def unanswered_notice() -> rx.Component:
    """After a reload the failed turn's notice is gone, but the stored
    thread still ends with an unanswered message: say so, offer the retry."""
    return rx.cond(
        ChatState.unanswered,
        notice(
            "info",
            rx.text("This message has no reply yet."),
            rx.button(
                rx.icon("rotate-ccw", size=14),
                "Get a reply",
                on_click=ChatState.retry,
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
            rx.button("Start a new chat", on_click=ChatState.new_chat, variant="soft"),
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
            ~ChatState.loaded,
            loading(),
            rx.cond(
                ChatState.not_found,
                not_found(),
                rx.box(
                    load_older(),
                    rx.cond(ChatState.is_empty & ~ChatState.running, empty_state()),
                    rx.foreach(ChatState.messages, lambda message: message_row(message=message)),
                    thinking(),
                    error_notice(),
                    unanswered_notice(),
                    class_name="thread-inner",
                    id="thread-inner",
                ),
            ),
        ),
        class_name="thread",
        id="thread",
        key=ChatState.current_id,
    )
