"""The turns this worker process is running, so a graceful shutdown can
let them finish and a worker that is draining takes no new ones.

This is process plumbing, not conversation state: it holds asyncio tasks,
never messages. What other workers must see of a turn goes through the
database (its status) and the bus (its live events, its stop signal).
"""

from __future__ import annotations

import asyncio
from typing import Any

_tasks: set[asyncio.Task[Any]] = set()
_draining = False


def track(task: asyncio.Task[Any]) -> None:
    """Keep a reference until the task ends (the loop holds only weak ones)."""
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def accepting_turns() -> bool:
    return not _draining


def running() -> int:
    return len(_tasks)


async def drain(grace_seconds: float) -> int:
    """Stop taking turns and wait up to `grace_seconds` for the running ones.
    Returns how many were still running at the deadline; those are cancelled,
    which stores them as `failed`/`interrupted` on their way out."""
    global _draining
    _draining = True
    pending = {task for task in _tasks if not task.done()}
    if pending:
        _done, pending = await asyncio.wait(pending, timeout=grace_seconds)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
    return len(pending)


def reset_for_tests() -> None:
    global _draining
    _draining = False
