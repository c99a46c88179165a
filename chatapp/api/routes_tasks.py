"""The user's tasks, read-only: changes go through the assistant."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from chatapp.api.deps import CurrentUser, EngineDep
from chatapp.api.schemas import ErrorResponse, TaskList
from chatapp.services import tasks
from chatapp.services.database import in_thread

router = APIRouter(prefix="/api/{user_id}", tags=["tasks"])


@router.get("/tasks", response_model=TaskList, responses={c: {"model": ErrorResponse} for c in (400, 401, 403, 503)})
async def list_tasks(
    user_id: CurrentUser, engine: EngineDep, status: Annotated[Literal["all", "pending", "completed"], Query()] = "all"
) -> TaskList:
    """The user's tasks by task_id: all, pending or completed."""
    return TaskList.of(status, await in_thread(tasks.list_tasks, engine, user_id=user_id, status=status))
