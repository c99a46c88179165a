"""The task tools, served by an MCP server (the `mcp` SDK's MCPServer,
formerly FastMCP).

Over HTTP, `/mcp` is an OAuth 2.0 protected resource (MCP authorization,
2025-11-25): the SDK's bearer middleware checks every request with
`ChatappTokenVerifier` and answers a missing or invalid token with 401 and
`WWW-Authenticate: Bearer resource_metadata="…"`; the RFC 9728 metadata is
served at `/.well-known/oauth-protected-resource[/mcp]`. The tools act for the
user the verified token names (read from the SDK's auth context, never from
a tool argument). Over stdio the token comes from `CHATAPP_TOKEN` and is
checked by the same verifier.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AfterValidator, Field
from sqlalchemy import Engine
from starlette.authentication import AuthenticationError

from chatapp.config import Settings
from chatapp.services import tasks
from chatapp.services.auth import current_identity, decode_claims, identity_of, mcp_audience
from chatapp.services.database import in_thread
from chatapp.services.errors import InvalidAuth, InvalidInput, Unavailable
from chatapp.services.text import MAX_INT32, unstorable_reason
from chatapp.tools.results import TaskChange, TaskListing, invalid_request, task_change, task_listing

INSTRUCTIONS = "Manage the signed-in person's todo tasks. Task ids are small per-user integers."


# ----------------------------------------------------------------- arguments
def storable(value: str | None) -> str | None:
    reason = unstorable_reason(value) if value is not None else None
    if reason:
        raise ValueError(reason)
    return value


TaskId = Annotated[int, Field(ge=1, le=MAX_INT32, description="The task's number, from list_tasks.")]
Title = Annotated[str, Field(max_length=tasks.MAX_TITLE_LENGTH), AfterValidator(storable)]
Description = Annotated[str | None, Field(max_length=tasks.MAX_DESCRIPTION_LENGTH), AfterValidator(storable)]


# ---------------------------------------------------------------------- auth
class TokenCheckUnavailable(AuthenticationError):
    """A well-signed token the database could not check (its user gone,
    its tokens revoked). A verifier's `None` would answer 401 and send the
    client off to sign in again over an outage it did nothing about; raised
    instead, it reaches the bearer middleware's `on_error`, which the app
    answers with 503 (chatapp/api/app.py)."""


class ChatappTokenVerifier:
    """The SDK's `TokenVerifier`: a chatapp JWT (HS256, unexpired, issued by
    this deployment) that names the MCP server among its audiences, for a
    user who still exists, not revoked (its `ver` is the user's token
    version: one statement, checked on every request)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.audience = mcp_audience(settings)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            claims = decode_claims(token, self.settings, audience=self.audience)
            user_id = uuid.UUID(claims["sub"])
            await in_thread(current_identity, self.engine, identity_of(claims))
        except InvalidAuth:
            return None
        except Unavailable as error:
            raise TokenCheckUnavailable(error.message) from error
        return AccessToken(
            token=token, client_id=str(user_id), subject=str(user_id), scopes=[],
            expires_at=int(claims["exp"]), resource=self.audience, claims={"iss": claims["iss"]},
        )


async def acting_user(ctx: Context, verifier: ChatappTokenVerifier) -> uuid.UUID:
    access = get_access_token()  # set by the SDK's bearer middleware over HTTP
    if access is None and ctx.headers is None:  # stdio: one user per process, named by the environment
        try:
            access = await verifier.verify_token(os.environ.get("CHATAPP_TOKEN", ""))
        except TokenCheckUnavailable as error:
            raise ToolError(str(error)) from error
    if access is None:
        raise ToolError("Not authorised: a valid bearer token for this MCP server is required.")
    return uuid.UUID(access.client_id)


async def run_for_user(
    ctx: Context, verifier: ChatappTokenVerifier, operation: Callable[..., Any], shape: Callable[[Any], Any],
    **arguments: Any,
) -> Any:
    """Run one task operation as the caller and shape its typed result into
    the tool's result. Bad arguments come back as a structured error the
    model can read."""
    user_id = await acting_user(ctx, verifier)
    try:
        value = await in_thread(operation, verifier.engine, user_id=user_id, **arguments)
    except InvalidInput as error:
        return invalid_request(error.message)
    except Unavailable as error:
        raise ToolError(error.message) from error
    return shape(value)


def auth_settings(settings: Settings) -> AuthSettings:
    # chatapp is the resource server; its tokens come from /api/auth/login on
    # this same deployment, so the "authorization server" the SDK requires is
    # the deployment's base URL (it is also the tokens' `iss`).
    return AuthSettings(
        issuer_url=settings.base_url,  # type: ignore[arg-type]
        resource_server_url=mcp_audience(settings),  # type: ignore[arg-type]
        validate_token_resource=True,
        service_documentation_url=f"{settings.base_url}/docs",  # type: ignore[arg-type]
    )


def create_task_server(engine: Engine, settings: Settings) -> MCPServer:
    """`settings` are the app's own (its JWT secret checks the tool tokens
    the turn pipeline signs with them)."""
    verifier = ChatappTokenVerifier(engine, settings)
    server = MCPServer(
        "tasks", instructions=INSTRUCTIONS, log_level="WARNING",
        token_verifier=verifier, auth=auth_settings(settings),
    )

    @server.tool()
    async def add_task(title: Title, ctx: Context, description: Description = None) -> TaskChange:
        """Add a task to the person's todo list. Returns its task_id."""
        return await run_for_user(ctx, verifier, tasks.add_task, task_change, title=title, description=description)

    @server.tool()
    async def list_tasks(ctx: Context, status: Literal["all", "pending", "completed"] = "all") -> TaskListing:
        """List the person's tasks: all, only pending, or only completed."""
        return await run_for_user(
            ctx, verifier, tasks.list_tasks, lambda found: task_listing(status, found), status=status
        )

    @server.tool()
    async def complete_task(task_id: TaskId, ctx: Context) -> TaskChange:
        """Mark a task as done."""
        return await run_for_user(ctx, verifier, tasks.complete_task, task_change, task_id=task_id)

    @server.tool()
    async def delete_task(task_id: TaskId, ctx: Context) -> TaskChange:
        """Delete a task for good."""
        return await run_for_user(ctx, verifier, tasks.delete_task, task_change, task_id=task_id)

    @server.tool()
    async def update_task(task_id: TaskId, ctx: Context, title: Title | None = None, description: Description = None) -> TaskChange:
        """Change a task's title and/or description."""
        return await run_for_user(
            ctx, verifier, tasks.update_task, task_change, task_id=task_id, title=title, description=description
        )

    return server
