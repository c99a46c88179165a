"""The FastAPI app: REST routes, the MCP task server at /mcp, one error
mapping. Reflex mounts it with `api_transformer`; tests serve it directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from chatapp.config import Settings, get_settings
from chatapp.api import routes_auth, routes_chat, routes_health, routes_tasks, routes_turns
from chatapp.api.draining import DrainingMiddleware
from chatapp.api.errors import install_error_handlers
from chatapp.tools.server import create_task_server

DESCRIPTION = """A stateless, durable todo-task chat. Register or log in for a
bearer token, then `POST /api/{user_id}/chat`. Errors always have the shape
`{"status": "error", "error_code", "error", "conversation_id"}`."""


def create_api(engine: Engine, *, settings: Settings | None = None, run_mcp_lifespan: bool = True) -> FastAPI:
    """`run_mcp_lifespan=False` when a host (Reflex) runs `mcp_lifespan` itself:
    a mounted app's own lifespan never runs."""
    mcp_server = create_task_server(engine)
    mcp_app = mcp_server.streamable_http_app(stateless_http=True, json_response=True)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with mcp_server.session_manager.run():
            yield

    api = FastAPI(
        title="chatapp",
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=lifespan if run_mcp_lifespan else None,
    )
    api.state.engine = engine
    api.state.settings = settings or get_settings()
    api.state.mcp_server = mcp_server
    install_error_handlers(api)
    api.add_middleware(DrainingMiddleware)
    for module in (routes_auth, routes_chat, routes_turns, routes_tasks, routes_health):
        api.include_router(module.router)
    api.router.routes.extend(mcp_app.routes)  # POST /mcp
    return api


@asynccontextmanager
async def mcp_lifespan(api: FastAPI) -> AsyncIterator[None]:
    async with api.state.mcp_server.session_manager.run():
        yield
