"""What a new chat shows: a greeting and example prompts that send
themselves when clicked, phrased the way the offline model understands."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.turn_state import TurnState

EXAMPLE_PROMPTS: list[tuple[str, str]] = [
    ("plus", "Add task: Buy groceries"),
    ("list-todo", "What's on my list?"),
    ("check", "Mark task 1 as done"),
    ("pencil", "Rename task 1 to Buy oat milk"),
]


def example_prompt(icon: str, text: str) -> rx.Component:
    return rx.button(
        rx.icon(icon, size=14),
        text,
        on_click=TurnState.send_prompt(text),
        variant="surface",
        color_scheme="gray",
        class_name="example-prompt",
    )


def empty_state() -> rx.Component:
    return rx.vstack(
        rx.box(rx.icon("list-todo", size=28), class_name="empty-mark"),
        rx.heading("What should we get done today?", size="6", align="center"),
        rx.text(
            "Tell me what to add, finish, rename or delete — I keep your to-do list.",
            color_scheme="gray",
            size="2",
            align="center",
        ),
        rx.box(*(example_prompt(icon, text) for icon, text in EXAMPLE_PROMPTS), class_name="example-prompts"),
        align="center",
        spacing="3",
        id="empty-state",
        class_name="empty-state",
    )
