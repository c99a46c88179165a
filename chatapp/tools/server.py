"""The task tools, served by an MCP server (the `mcp` SDK's MCPServer,
formerly FastMCP).

The tools act for the user named by the bearer token of the request that
calls them (the `Authorization` header over HTTP, `CHATAPP_TOKEN` over
stdio). The user is never a tool argument, so a model cannot reach another
person's tasks by filling one in.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from sqlalchemy import Engine

from chatapp.logs import use_plain_logging
from chatapp.services import tasks
from chatapp.services.auth import authenticate, bearer_token
from chatapp.services.database import in_thread
from chatapp.services.errors import InvalidAuth, InvalidInput, Unavailable

INSTRUCTIONS = "Manage the signed-in person's todo tasks. Task ids are small per-user integers."


def acting_user_token(ctx: Context) -> str | None:
    headers = ctx.headers
    if headers is None:  # stdio: one user per process, named by the environment
        return os.environ.get("CHATAPP_TOKEN")
    return bearer_token(headers.get("authorization"))


async def run_for_user(ctx: Context, engine: Engine, operation: Callable[..., dict[str, Any]], **arguments: Any) -> dict[str, Any]:
    """Authenticate the caller, then run one task operation as them. Bad
    arguments come back as a structured error the model can read."""
    try:
        user_id: uuid.UUID = await in_thread(authenticate, engine, acting_user_token(ctx))
    except InvalidAuth as error:
        raise ToolError(f"Not authorised: {error.message}") from error
    try:
        return await in_thread(operation, engine, user_id=user_id, **arguments)
    except InvalidInput as error:
        return {"status": "error", "error": "invalid_request", "message": error.message}
    except Unavailable as error:
        raise ToolError(error.message) from error


def create_task_server(engine: Engine) -> MCPServer:
    server = MCPServer("tasks", instructions=INSTRUCTIONS, log_level="WARNING")
    use_plain_logging()  # the SDK just installed a Rich handler on the root logger

    @server.tool()
    async def add_task(title: str, ctx: Context, description: str | None = None) -> dict[str, Any]:
        """Add a task to the person's todo list. Returns its task_id."""
        return await run_for_user(ctx, engine, tasks.add_task, title=title, description=description)

    @server.tool()
    async def list_tasks(ctx: Context, status: Literal["all", "pending", "completed"] = "all") -> dict[str, Any]:
        """List the person's tasks: all, only pending, or only completed."""
        return await run_for_user(ctx, engine, tasks.list_tasks, status=status)

    @server.tool()
    async def complete_task(task_id: int, ctx: Context) -> dict[str, Any]:
        """Mark a task as done."""
        return await run_for_user(ctx, engine, tasks.complete_task, task_id=task_id)

    @server.tool()
    async def delete_task(task_id: int, ctx: Context) -> dict[str, Any]:
        """Delete a task for good."""
        return await run_for_user(ctx, engine, tasks.delete_task, task_id=task_id)

    @server.tool()
    async def update_task(
        task_id: int, ctx: Context, title: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        """Change a task's title and/or description."""
        return await run_for_user(ctx, engine, tasks.update_task, task_id=task_id, title=title, description=description)

    return server
