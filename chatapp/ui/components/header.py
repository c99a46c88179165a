"""The bar above the thread: the conversation's title, its menu (export),
and on narrow screens the buttons that open the collapsed sidebar and
tasks panel."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.sidebar_state import SidebarState
from chatapp.ui.sidebar_state import TasksState
from chatapp.ui.thread_state import ThreadState
from chatapp.ui.transfer_state import TransferState


def conversation_menu() -> rx.Component:
    """Only for a stored conversation: a new chat has nothing to export."""
    return rx.cond(
        ThreadState.messages.length() > 0,
        rx.menu.root(
            rx.menu.trigger(
                rx.icon_button(rx.icon("ellipsis", size=16), variant="ghost", color_scheme="gray", size="2",
                               id="conversation-menu", aria_label="Conversation menu", title="More"),
            ),
            rx.menu.content(
                rx.menu.item(rx.icon("file-json", size=14), "Export JSON", on_click=TransferState.export("json"),
                             id="export-json"),
                rx.menu.item(rx.icon("file-text", size=14), "Export Markdown",
                             on_click=TransferState.export("markdown"), id="export-markdown"),
                align="end",
            ),
        ),
    )


def header() -> rx.Component:
    return rx.hstack(
        rx.icon_button(
            rx.icon("menu", size=18),
            variant="ghost",
            color_scheme="gray",
            on_click=SidebarState.toggle_sidebar,
            class_name="menu-toggle",
            id="menu-toggle",
            aria_label="Open conversations",
        ),
        rx.text(ThreadState.title, class_name="chat-title", id="chat-title"),
        conversation_menu(),
        rx.button(
            rx.icon("list-todo", size=16),
            rx.text("Tasks", class_name="tasks-toggle-label"),
            rx.badge(TasksState.pending_tasks.length(), radius="full", size="1"),
            variant="soft",
            color_scheme="gray",
            size="2",
            on_click=SidebarState.toggle_tasks,
            class_name="tasks-toggle",
            id="tasks-toggle",
            aria_label="Show tasks",
        ),
        align="center",
        spacing="3",
        class_name="chat-header",
    )
