"""The agent's side of the task MCP server.

A full MCP client session costs four HTTP round trips (initialize, the
initialized notification, a tools/list the client makes to validate output,
then the call) — more than the rest of a turn. The server runs stateless, so
this client pays only for what a turn uses:

- the tool list is static schema: fetched once per endpoint and converted to
  SDK function tools once, so agents are built once, not per turn;
- each tool call is a single tools/call request in its own MCP client
  session, on a pooled HTTP connection, with the acting user's bearer token.

The token travels in the run context (`TurnContext`); the SDK's meta-resolver
hook hands it to `call_tool`, which sends it as the Authorization header and
never as a tool argument or MCP `_meta`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from agents import FunctionTool
from agents.mcp import MCPServer, MCPUtil
from agents.mcp.util import MCPToolMetaContext
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolRequest, CallToolRequestParams, CallToolResult, GetPromptResult, ListPromptsResult, Tool

from chatapp.logs import request_id

MCP_TIMEOUT = httpx2.Timeout(30.0, connect=5.0)
CREDENTIAL = "chatapp/bearer"


@dataclass(frozen=True)
class TurnContext:
    """Per-turn run context: the credential the tools act with."""

    tool_token: str


def pooled_transport() -> httpx2.AsyncHTTPTransport:
    return httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_connections=64, max_keepalive_connections=32))


@asynccontextmanager
async def mcp_session(url: str, token: str | None, transport: httpx2.AsyncHTTPTransport) -> AsyncIterator[ClientSession]:
    """An MCP client session that speaks as `token`'s user. The server is
    stateless, so no initialize handshake is needed before a request."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if (turn_request := request_id.get()) is not None:
        headers["X-Request-ID"] = turn_request  # the tool call logs under the id of the turn's request
    http_client = httpx2.AsyncClient(
        transport=transport,
        headers=headers,
        timeout=MCP_TIMEOUT,
        trust_env=False,
    )
    # Not closed with the session: closing the client would close the shared pool.
    async with streamable_http_client(url, http_client=http_client, terminate_on_close=False) as (read, write):
        async with ClientSession(read, write) as session:
            yield session


def credential_from_context(context: MCPToolMetaContext) -> dict[str, Any]:
    turn = context.run_context.context
    if not isinstance(turn, TurnContext):
        raise RuntimeError("task tools need a TurnContext carrying the acting user's token")
    return {CREDENTIAL: turn.tool_token}


class TaskTools(MCPServer):
    """The task MCP server at one endpoint, for every user: who a call acts
    for comes with each call, from the turn's context. One per worker (one of
    the app's parts): its connection pool belongs to the worker's event loop,
    and `close` closes it at shutdown."""

    def __init__(self, url: str) -> None:
        super().__init__(tool_meta_resolver=credential_from_context)
        self.url = url
        self._tools: list[Tool] | None = None
        self._transport = pooled_transport()

    async def close(self) -> None:
        await self._transport.aclose()

    @property
    def name(self) -> str:
        return "tasks"

    async def connect(self) -> None:
        """Nothing to hold open: each call opens its own session."""

    async def cleanup(self) -> None:
        """Nothing held open."""

    async def list_tools(self, run_context: Any = None, agent: Any = None, *, token: str | None = None) -> list[Tool]:
        """The server's tools, fetched once. /mcp is a protected resource, so
        the fetch carries a token: the turn's own, which is all the process has."""
        if self._tools is None:
            turn = getattr(run_context, "context", None)
            token = token or (turn.tool_token if isinstance(turn, TurnContext) else None)
            async with mcp_session(self.url, token, self._transport) as session:
                self._tools = list((await session.list_tools()).tools)
        return self._tools

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        meta = dict(meta or {})
        token = meta.pop(CREDENTIAL, None)
        request = CallToolRequest(
            params=CallToolRequestParams(name=tool_name, arguments=arguments or {}, _meta=meta or None)
        )
        async with mcp_session(self.url, token, self._transport) as session:
            # send_request, not call_tool: call_tool first re-lists the tools to
            # validate the result, an extra round trip on every fresh session.
            return await session.send_request(request, CallToolResult)

    async def list_prompts(self) -> ListPromptsResult:
        return ListPromptsResult(prompts=[])

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None) -> GetPromptResult:
        raise KeyError(name)

    async def function_tools(self, token: str | None = None) -> list[FunctionTool]:
        """The MCP tools as SDK function tools that call back over MCP."""
        tools = await self.list_tools(token=token)
        return [MCPUtil.to_function_tool(tool, self, convert_schemas_to_strict=False) for tool in tools]

