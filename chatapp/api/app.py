"""The FastAPI app: REST routes, the MCP task server at /mcp, one error
mapping. Reflex mounts it with `api_transformer`; tests serve it directly.

`serving` is the app's lifespan: it opens the app's parts (chatapp/services/
parts.py) inside the running loop, puts them on `app.state.parts` for the
routes, runs the MCP server's session manager, and closes them all at
shutdown. Served alone the app runs it itself; Reflex runs it as a lifespan
task (a mounted app's own lifespan never runs) and hands the parts to the UI.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.responses import JSONResponse
from mcp.server.transport_security import TransportSecuritySettings
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.authentication import AuthenticationError
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from chatapp.config import Settings
from chatapp.api import (
    routes_accounts, routes_auth, routes_chat, routes_chatkit, routes_health, routes_metrics, routes_search,
    routes_tasks, routes_tool_calls, routes_transfer, routes_turns,
)
from chatapp.api.draining import DrainingMiddleware
from chatapp.api.errors import error_response, install_error_handlers
from chatapp.api.middleware import ApiShield
from chatapp.api.observability import RequestObserver
from chatapp.chatkit.server import ChatappChatKitServer
from chatapp.logs import configure_logging
from chatapp.services.text import UUID_PATTERN
from chatapp.services.parts import AppParts, open_parts
from chatapp.tools.server import TokenCheckUnavailable, create_task_server

logger = logging.getLogger("chatapp.api")
WELL_KNOWN = "/.well-known/oauth-protected-resource"
ID_PARAMETER = re.compile(r"\{\w+\}")
EXAMPLE_ID = "00000000-0000-4000-8000-000000000000"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

DESCRIPTION = """A stateless, durable todo-task chat. Register or log in for a
bearer token, then `POST /api/{user_id}/chat`. Errors always have the shape
`{"status": "error", "error_code", "error", "conversation_id"}`."""


# Accounts last: `DELETE /api/{user_id}` must not shadow a fixed path.
ROUTES = (routes_auth, routes_transfer, routes_chat, routes_turns, routes_tasks, routes_search, routes_tool_calls,
          routes_health, routes_metrics, routes_chatkit, routes_accounts)


def create_api(engine: Engine, *, settings: Settings, run_lifespan: bool = True) -> FastAPI:
    """`run_lifespan=False` when a host (Reflex) runs `serving` itself: a
    mounted app's own lifespan never runs. `settings` are the ones every
    part uses: the tokens the API signs are the ones the MCP server checks."""
    mcp_server = create_task_server(engine, settings)
    # After MCPServer(), which installs a Rich handler on the root logger.
    configure_logging(settings.log_format, settings.log_level, access_log=settings.access_log)
    mcp_app = mcp_server.streamable_http_app(
        stateless_http=True, json_response=True, max_request_body_size=settings.max_body_bytes,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=settings.mcp_hosts, allowed_origins=settings.mcp_origins,
        ),
    )

    api = FastAPI(
        title="chatapp",
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=served_alone if run_lifespan else None,
    )
    # What `serving` opens the parts with; routes read `app.state.parts`.
    api.state.engine = engine
    api.state.settings = settings
    api.state.mcp_server = mcp_server
    install_error_handlers(api)
    api.add_middleware(DrainingMiddleware)
    api.add_middleware(ApiShield, max_body_bytes=settings.max_body_bytes, import_max_bytes=settings.import_max_bytes)
    api.add_middleware(RequestObserver)  # outermost: it sees every answer, the shield's own included
    fallback = unknown_api_route([module.router for module in ROUTES if module is not routes_metrics])
    routers = [module.router for module in ROUTES]
    for index, router in enumerate(routers):
        guard_shadowed_paths(api, fallback, earlier=routers[:index], router=router, every=routers)
        api.include_router(router)
    mount_mcp(api, mcp_app)
    for path in ("/api", "/api/{rest:path}"):
        api.add_api_route(path, fallback, methods=ALL_METHODS, include_in_schema=False)
    return api


def mount_mcp(api: FastAPI, mcp_app: Starlette) -> None:
    """The MCP app is routed to as a whole, so its own middleware (the SDK's
    bearer authentication and auth context) runs: `/mcp`, and the RFC 9728
    metadata at `/.well-known/oauth-protected-resource/mcp` and, for clients
    that look at the root, `/.well-known/oauth-protected-resource`. They
    are matched first: every tool call of every turn comes here, no API path
    shares them, and matching the API's routers before them cost 5% of a
    tool call's CPU."""
    authentication = [layer for layer in mcp_app.user_middleware if layer.cls is AuthenticationMiddleware]
    if len(authentication) != 1:  # an SDK that builds its auth otherwise: outages would be 401s again
        raise RuntimeError(f"expected the MCP SDK's one AuthenticationMiddleware, found {len(authentication)}")
    authentication[0].kwargs["on_error"] = refuse_unchecked_token
    endpoint = next(route for route in mcp_app.routes if isinstance(route, Route) and route.path == "/mcp")
    guard = endpoint.app  # the SDK's RequireAuthMiddleware around the transport
    guard.app = refuse_get_stream(guard.app)  # type: ignore[attr-defined]
    metadata = next(route for route in mcp_app.routes if isinstance(route, Route) and route.path.startswith(WELL_KNOWN))
    api.router.routes[:0] = [
        Route("/mcp", endpoint=mcp_app),
        Route(metadata.path, endpoint=mcp_app),
        Route(WELL_KNOWN, endpoint=metadata.endpoint, methods=["GET", "OPTIONS"]),
    ]


def refuse_unchecked_token(conn: HTTPConnection, error: AuthenticationError) -> Response:
    """The SDK's bearer middleware when authentication itself failed: a
    token the database could not check is 503 in the error shape, as the
    API answers a database outage, without the 401's challenge (the token
    may be good). Anything else keeps Starlette's own answer."""
    if isinstance(error, TokenCheckUnavailable):
        logger.warning("database_error: MCP token not checked: %s", error, exc_info=error.__cause__)
        return error_response("database_error", str(error))
    return AuthenticationMiddleware.default_on_error(conn, error)


def refuse_get_stream(app: ASGIApp) -> ASGIApp:
    """Stateless MCP has no server-initiated stream to offer; the SDK would
    hold a GET open forever. Answer it 405 (the spec allows exactly that)."""

    async def transport(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            response = JSONResponse(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Method Not Allowed: use POST."}},
                status_code=405, headers={"Allow": "POST"},
            )
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return transport


def id_path_regex(path: str) -> re.Pattern[str]:
    """A route's path with each `{…_id}` matching only a UUID: a path that
    can name no resource is 404, not 405 (`DELETE /api/{user_id}` would
    otherwise claim every `/api/<word>`)."""
    uuid_part = UUID_PATTERN.strip("^$")
    pattern = re.sub(r"\\{\w+_id\\}", uuid_part, re.escape(path))
    return re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", pattern) + "$")


def unknown_api_route(routers: list[APIRouter]) -> Callable[[Request], Awaitable[object]]:
    """Reflex mounts its own app under this one, catching every path no route
    matched (a plain-text 404, even for a known path with the wrong method).
    This endpoint, routed after every real route, keeps `/api` in the error
    shape: 405 with `Allow` for a known path, else 404."""
    known = [(id_path_regex(route.path), route.methods or set()) for router in routers for route in router.routes
             if isinstance(route, APIRoute)]

    async def answer(request: Request) -> object:
        path = request.scope["path"]
        allowed = set().union(*(methods for regex, methods in known if regex.match(path)))
        if allowed:
            response = error_response("method_not_allowed", f"Method {request.method} is not allowed here.")
            response.headers["Allow"] = ", ".join(sorted(allowed))
            return response
        return error_response("not_found", "No such API route.")

    return answer


def guard_shadowed_paths(
    api: FastAPI, fallback: Callable[[Request], Awaitable[object]], *,
    earlier: list[APIRouter], router: APIRouter, every: list[APIRouter],
) -> None:
    """A path with a fixed segment can also match a later route's parameter:
    `DELETE /api/health` matched `DELETE /api/{user_id}` (account deletion)
    and was answered 401 by its token check, and `GET …/conversations/import`
    reached `GET …/conversations/{conversation_id}`. Before `router` is
    included, each earlier path it would shadow gets a route for the methods
    no route declares on it, answered by the `/api` fallback (405 with
    `Allow`). A parameter that is not a fixed word still reaches the later
    route (a non-UUID user id is 400)."""
    patterns = [compile_path(route.path)[0] for route in router.routes if isinstance(route, APIRoute) and "{" in route.path]
    for path in sorted({route.path for other in earlier for route in other.routes if isinstance(route, APIRoute)}):
        example = ID_PARAMETER.sub(EXAMPLE_ID, path)
        if not any(pattern.match(example) for pattern in patterns):
            continue
        declared = set().union(*(route.methods or set() for other in every for route in other.routes
                                 if isinstance(route, APIRoute) and route.path == path))
        if methods := [method for method in ALL_METHODS if method not in declared]:
            api.add_api_route(path, fallback, methods=methods, include_in_schema=False)


@asynccontextmanager
async def serving(api: FastAPI) -> AsyncIterator[AppParts]:
    """The app's parts, open for as long as the app serves, then closed: the
    API's one lifespan, run by `served_alone` or by Reflex when mounted (a
    mounted app's own lifespan never runs)."""
    async with open_parts(api.state.settings, api.state.engine) as parts:
        api.state.parts = parts
        api.state.chatkit = ChatappChatKitServer(parts)
        async with api.state.mcp_server.session_manager.run():
            with settled_heap():
                yield parts


@contextmanager
def settled_heap() -> Iterator[None]:
    """Everything made at start (the modules, Reflex's compiled app, the
    parts) lives as long as the worker. `gc.freeze` moves it out of the
    collector's reach: a full collection otherwise walks all of it, a pause
    of the whole event loop that lands on whichever turns are in flight
    (first-event p99 at 10 starts a second: 275 ms before, 51 ms after).
    Given back on the way out, for a process that goes on after serving."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@asynccontextmanager
async def served_alone(api: FastAPI) -> AsyncIterator[None]:
    """`serving` as the API's own lifespan; it yields nothing, since Starlette
    would take a yielded value for the request state."""
    async with serving(api):
        yield
