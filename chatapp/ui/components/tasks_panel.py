"""The user's tasks, pending first then completed, with their task ids.
Re-read after every turn, so a task the assistant adds appears at once.
Below them, what happened to the tasks (the tool-call audit trail): recent
changes, or one task's history, each change linking to its turn."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.sidebar_state import SidebarState
from chatapp.ui.sidebar_state import TasksState
from chatapp.ui.components.timestamps import relative_time
from chatapp.ui.views import TaskEventView, TaskView


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
        history_button(task.task_id, "task-history-button"),
        class_name=rx.cond(task.completed, "task-row completed", "task-row"),
        id=f"task-{task.task_id}",
        custom_attrs={"data-completed": rx.cond(task.completed, "true", "false")},
    )


def history_button(task_id: rx.Var[int], class_name: str) -> rx.Component:
    return rx.icon_button(
        rx.icon("history", size=14),
        variant="ghost",
        color_scheme="gray",
        size="1",
        on_click=TasksState.open_history(task_id),
        class_name=class_name,
        aria_label="Show this task's history",
        title="History",
    )


def task_event(event: rx.Var[TaskEventView]) -> rx.Component:
    """One change: what, to which task, when, and a link to the turn."""
    return rx.box(
        rx.box(
            rx.text(event.label, class_name="task-event-label"),
            rx.button(
                "#", event.task_id, variant="ghost", size="1", on_click=TasksState.open_history(event.task_id),
                class_name="task-event-task", title="Show this task's history",
            ),
            class_name="task-event-head",
        ),
        rx.cond(event.title != "", rx.text(event.title, class_name="task-event-title")),
        rx.box(
            relative_time(event.executed_at),
            rx.link("View turn", href=event.href, class_name="task-event-link"),
            class_name="task-event-meta",
        ),
        class_name=rx.cond(event.failed, "task-event failed", "task-event"),
        custom_attrs={"data-task-id": event.task_id},
    )


def task_history() -> rx.Component:
    """One task's history when one is open, else the recent changes."""
    return rx.cond(
        TasksState.history_task != 0,
        rx.box(
            rx.hstack(
                rx.text(TasksState.history_title, class_name="section-label", id="task-history-title"),
                rx.icon_button(
                    rx.icon("x", size=14), variant="ghost", color_scheme="gray", size="1",
                    on_click=TasksState.close_history, aria_label="Close the history", id="task-history-close",
                ),
                justify="between",
                align="center",
            ),
            rx.foreach(TasksState.history, task_event),
            class_name="task-section task-history",
            id="task-history",
        ),
        rx.cond(
            TasksState.recent_changes.length() > 0,
            rx.box(
                rx.text("Recent changes", class_name="section-label"),
                rx.foreach(TasksState.recent_changes, task_event),
                class_name="task-section task-history",
                id="recent-changes",
            ),
        ),
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
        task_history(),
        class_name=rx.cond(SidebarState.tasks_open, "tasks-panel open", "tasks-panel"),
        id="tasks-panel",
    )
