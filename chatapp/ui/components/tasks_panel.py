"""The user's tasks, pending first then completed, with their task ids.
Re-read after every turn, so a task the assistant adds appears at once."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.sidebar_state import SidebarState
from chatapp.ui.sidebar_state import TasksState
from chatapp.ui.views import TaskView


def task_row(task: rx.Var[TaskView]) -> rx.Component:
    return rx.box(
        rx.cond(
            task.completed,
            rx.icon("circle-check", size=16, class_name="task-check done"),
            rx.icon("circle", size=16, class_name="task-check"),
        ),
        rx.box(
            rx.text(task.title, class_name="task-title"),
            rx.cond(task.description != "", rx.text(task.description, class_name="task-description")),
            class_name="task-text",
        ),
        rx.text("#", task.task_id, class_name="task-id"),
        class_name=rx.cond(task.completed, "task-row completed", "task-row"),
        id=f"task-{task.task_id}",
        custom_attrs={"data-completed": rx.cond(task.completed, "true", "false")},
    )


def task_section(label: str, tasks: rx.Var[list[TaskView]], section_id: str) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.text(label, class_name="section-label"),
            rx.badge(tasks.length(), variant="soft", color_scheme="gray", size="1", radius="full"),
            align="center",
            spacing="2",
        ),
        rx.foreach(tasks, task_row),
        class_name="task-section",
        id=section_id,
    )


def tasks_panel() -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.hstack(rx.icon("list-todo", size=16), rx.text("Your tasks", weight="bold"), align="center", spacing="2"),
            rx.icon_button(
                rx.icon("x", size=16),
                variant="ghost",
                color_scheme="gray",
                on_click=SidebarState.close_panels,
                class_name="tasks-close",
                aria_label="Close tasks",
            ),
            justify="between",
            align="center",
            class_name="tasks-head",
        ),
        rx.cond(
            TasksState.tasks.length() == 0,
            rx.text(
                "No tasks yet. Try “Add task: Buy groceries”.",
                size="2",
                color_scheme="gray",
                class_name="tasks-empty",
                id="tasks-empty",
            ),
            rx.box(
                task_section("Pending", TasksState.pending_tasks, "pending-tasks"),
                task_section("Completed", TasksState.completed_tasks, "completed-tasks"),
                class_name="task-sections",
            ),
        ),
        class_name=rx.cond(SidebarState.tasks_open, "tasks-panel open", "tasks-panel"),
        id="tasks-panel",
    )
