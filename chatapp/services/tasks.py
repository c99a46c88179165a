"""Task operations for one user. The MCP tools and the tasks API call these;
every function takes the acting user's id from the caller's credentials,
never from a model-filled argument.

They return typed values, not wire shapes: what the model sees (the MCP tool
result, chatapp/tools/results.py) and what the REST API answers
(chatapp/api/schemas.py) are shaped at those edges, so one can change
without the other."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, bindparam, delete, false, insert, select, update

from chatapp.db import Task, User
from chatapp.db.types import utcnow
from chatapp.services.database import one_statement, transaction
from chatapp.services.text import check_text
from chatapp.services.errors import InvalidInput

TaskFilter = Literal["all", "pending", "completed"]
MAX_TITLE_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 5000


TaskChangeKind = Literal["created", "completed", "deleted", "updated"]


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A task as it is stored (numbered per user by `task_id`)."""

    task_id: int
    title: str
    description: str | None
    completed: bool


@dataclass(frozen=True, slots=True)
class TaskChanged:
    """A change that happened, and the task as it stands after it (a
    deleted task as it was)."""

    kind: TaskChangeKind
    task: StoredTask


@dataclass(frozen=True, slots=True)
class TaskNotFound:
    """No task of this user has this number: an answer the model can act on
    (ask, or list the tasks), not a failure of the call."""

    task_id: int


TaskOutcome = TaskChanged | TaskNotFound
TASK_COLUMNS = (Task.task_id, Task.title, Task.description, Task.completed)


def stored_task(row: Any) -> StoredTask:
    return StoredTask(task_id=row.task_id, title=row.title, description=row.description, completed=row.completed)


def outcome(kind: TaskChangeKind, task_id: int, row: Any) -> TaskOutcome:
    return TaskNotFound(task_id) if row is None else TaskChanged(kind, stored_task(row))


def clean_title(title: str | None) -> str:
    cleaned = check_text(title or "", "A task title").strip()
    if not cleaned:
        raise InvalidInput("A task needs a title.")
    if len(cleaned) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"A task title is at most {MAX_TITLE_LENGTH} characters.")
    return cleaned


def clean_description(description: str | None) -> str | None:
    cleaned = check_text(description or "", "A task description").strip() or None
    if cleaned and len(cleaned) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(f"A task description is at most {MAX_DESCRIPTION_LENGTH} characters.")
    return cleaned


def add_task_statement() -> Any:
    """PostgreSQL: number the task and store it in one statement, so it runs
    without a transaction around it (no BEGIN and COMMIT round trips). The
    user's row lock still numbers tasks 1, 2, 3... per user, never reused;
    SQLite has no UPDATE in a WITH clause, so it takes `add_task`'s two."""
    numbered = (
        update(User).where(User.id == bindparam("b_user_id"))
        .values(last_task_id=User.last_task_id + 1).returning(User.last_task_id).cte("numbered")
    )
    column = Task.__table__.c  # type: ignore[attr-defined]
    now = bindparam("b_now", type_=column.created_at.type)
    values = select(
        bindparam("b_id", type_=column.id.type), bindparam("b_user_id", type_=column.user_id.type),
        numbered.c.last_task_id, bindparam("b_title", type_=column.title.type),
        bindparam("b_description", type_=column.description.type), false(), now, now,
    )
    names = ["id", "user_id", "task_id", "title", "description", "completed", "created_at", "updated_at"]
    return insert(Task).from_select(names, values).returning(Task.task_id)


ADD_TASK = add_task_statement()


def add_task(engine: Engine, *, user_id: uuid.UUID, title: str, description: str | None = None) -> TaskChanged:
    title, description = clean_title(title), clean_description(description)
    now = utcnow()
    if engine.dialect.name == "postgresql":
        with one_statement(engine) as connection:
            task_id = connection.execute(ADD_TASK, {"b_id": uuid.uuid4(), "b_user_id": user_id, "b_title": title,
                                                    "b_description": description, "b_now": now}).scalar_one()
    else:
        with transaction(engine) as connection:
            # The row lock on the user numbers tasks 1, 2, 3... per user, never reused.
            task_id = connection.execute(
                update(User).where(User.id == user_id).values(last_task_id=User.last_task_id + 1)
                .returning(User.last_task_id)
            ).scalar_one()
            connection.execute(
                insert(Task).values(
                    id=uuid.uuid4(), user_id=user_id, task_id=task_id, title=title, description=description,
                    completed=False, created_at=now, updated_at=now,
                )
            )
    return TaskChanged("created", StoredTask(task_id=task_id, title=title, description=description, completed=False))


def list_tasks(engine: Engine, *, user_id: uuid.UUID, status: TaskFilter = "all") -> list[StoredTask]:
    """The user's tasks by task_id: all, only pending, or only completed."""
    if status not in ("all", "pending", "completed"):
        raise InvalidInput("status must be one of: all, pending, completed.")
    query = select(*TASK_COLUMNS).where(Task.user_id == user_id)
    if status != "all":
        query = query.where(Task.completed.is_(status == "completed"))
    with one_statement(engine) as connection:
        rows = connection.execute(query.order_by(Task.task_id)).all()
    return [stored_task(row) for row in rows]


def complete_task(engine: Engine, *, user_id: uuid.UUID, task_id: int) -> TaskOutcome:
    with one_statement(engine) as connection:
        row = connection.execute(
            update(Task)
            .where(Task.user_id == user_id, Task.task_id == task_id)
            .values(completed=True, updated_at=utcnow())
            .returning(*TASK_COLUMNS)
        ).first()
    return outcome("completed", task_id, row)


def delete_task(engine: Engine, *, user_id: uuid.UUID, task_id: int) -> TaskOutcome:
    with one_statement(engine) as connection:
        row = connection.execute(
            delete(Task).where(Task.user_id == user_id, Task.task_id == task_id).returning(*TASK_COLUMNS)
        ).first()
    return outcome("deleted", task_id, row)


def update_task(
    engine: Engine, *, user_id: uuid.UUID, task_id: int, title: str | None = None, description: str | None = None
) -> TaskOutcome:
    values: dict[str, Any] = {"updated_at": utcnow()}
    if title is not None:
        values["title"] = clean_title(title)
    if description is not None:
        values["description"] = clean_description(description)
    if len(values) == 1:
        raise InvalidInput("Give a new title or description.")
    with one_statement(engine) as connection:
        row = connection.execute(
            update(Task)
            .where(Task.user_id == user_id, Task.task_id == task_id)
            .values(**values)
            .returning(*TASK_COLUMNS)
        ).first()
    return outcome("updated", task_id, row)
