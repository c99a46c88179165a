"""What the model sees: the task tools' results, shaped from the task
service's typed values. This is the MCP tool contract (its output schemas
are these TypedDicts, by name), and it changes only on purpose: the REST
API shapes the same tasks on its own (chatapp/api/schemas.py)."""

from __future__ import annotations

from typing import Literal

from typing_extensions import NotRequired, TypedDict

from chatapp.services.tasks import StoredTask, TaskChanged, TaskFilter, TaskNotFound, TaskOutcome


class TaskChange(TypedDict):
    """What a change did: `status` names it, or is "error" with `error` and `message`."""

    status: Literal["created", "completed", "deleted", "updated", "error"]
    task_id: NotRequired[int]
    title: NotRequired[str]
    description: NotRequired[str | None]
    error: NotRequired[Literal["not_found", "invalid_request"]]
    message: NotRequired[str]


class TaskItem(TypedDict):
    task_id: int
    title: str
    description: str | None
    completed: bool


class TaskListing(TypedDict):
    status: Literal["ok", "error"]
    filter: NotRequired[Literal["all", "pending", "completed"]]
    count: NotRequired[int]
    tasks: NotRequired[list[TaskItem]]
    error: NotRequired[Literal["invalid_request"]]
    message: NotRequired[str]


def task_item(task: StoredTask) -> TaskItem:
    return {"task_id": task.task_id, "title": task.title, "description": task.description, "completed": task.completed}


def task_listing(status: TaskFilter, tasks: list[StoredTask]) -> TaskListing:
    items = [task_item(task) for task in tasks]
    return {"status": "ok", "filter": status, "count": len(items), "tasks": items}


def task_change(outcome: TaskOutcome) -> TaskChange:
    """A created or updated task's description is part of what the model is
    told; a completed or deleted one's is not (it did not change)."""
    if isinstance(outcome, TaskNotFound):
        return {
            "task_id": outcome.task_id, "status": "error", "error": "not_found",
            "message": f"Task {outcome.task_id} not found.",
        }
    assert isinstance(outcome, TaskChanged)
    task = outcome.task
    if outcome.kind in ("created", "updated"):
        return {"task_id": task.task_id, "status": outcome.kind, "title": task.title, "description": task.description}
    return {"task_id": task.task_id, "status": outcome.kind, "title": task.title}


def invalid_request(message: str) -> dict[str, str]:
    """Bad arguments, as a result the model can read and correct."""
    return {"status": "error", "error": "invalid_request", "message": message}
