"""The bar above the thread: the conversation's title, and on narrow
screens the buttons that open the collapsed sidebar and tasks panel."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.sidebar_state import SidebarState
from chatapp.ui.sidebar_state import TasksState
from chatapp.ui.thread_state import ThreadState


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
