"""The agent's side of the task MCP server: one `agents.mcp.MCPServer` per
turn, acting for one user.

A full MCP client session costs four HTTP round trips (initialize, the
initialized notification, a tools/list the client makes to validate output,
then the call) — more than the rest of a turn. The server runs stateless, so
this class pays only for what a turn uses: the tool list (static schema,
fetched once per process and endpoint) comes from a cache, and each tool
call is a single tools/call request on a pooled HTTP connection, carrying
that user's bearer token.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from agents.mcp import MCPServer
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolRequest, CallToolRequestParams, CallToolResult, GetPromptResult, ListPromptsResult, Tool

MCP_TIMEOUT = httpx2.Timeout(30.0, connect=5.0)
# Tool schemas per endpoint: code metadata, identical for every user.
_tool_catalog: dict[str, list[Tool]] = {}
# One HTTP connection pool per event loop (pooled connections belong to a loop).
_transports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncHTTPTransport] = (
    weakref.WeakKeyDictionary()
)


def pooled_transport() -> httpx2.AsyncHTTPTransport:
    loop = asyncio.get_running_loop()
    transport = _transports.get(loop)
    if transport is None:
        transport = _transports[loop] = httpx2.AsyncHTTPTransport(
            limits=httpx2.Limits(max_connections=64, max_keepalive_connections=32)
        )
    return transport


@asynccontextmanager
async def user_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    """An MCP client session that speaks as `token`'s user. The server is
    stateless, so no initialize handshake is needed before a request."""
    http_client = httpx2.AsyncClient(
        transport=pooled_transport(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=MCP_TIMEOUT,
        trust_env=False,
    )
    # Not closed with the session: closing the client would close the shared pool.
    async with streamable_http_client(url, http_client=http_client, terminate_on_close=False) as (read, write):
        async with ClientSession(read, write) as session:
            yield session


class TaskTools(MCPServer):
    def __init__(self, *, url: str, token: str) -> None:
        super().__init__()
        self.url = url
        self.token = token

    @property
    def name(self) -> str:
        return "tasks"

    async def connect(self) -> None:
        """Nothing to hold open: sessions are opened per tool call."""

    async def cleanup(self) -> None:
        """Nothing held open."""

    async def list_tools(self, run_context: Any = None, agent: Any = None) -> list[Tool]:
        tools = _tool_catalog.get(self.url)
        if tools is None:
            async with user_session(self.url, self.token) as session:
                tools = _tool_catalog[self.url] = list((await session.list_tools()).tools)
        return tools

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        request = CallToolRequest(params=CallToolRequestParams(name=tool_name, arguments=arguments or {}))
        async with user_session(self.url, self.token) as session:
            # send_request, not call_tool: call_tool first re-lists the tools to
            # validate the result, an extra round trip on every fresh session.
            return await session.send_request(request, CallToolResult)

    async def list_prompts(self) -> ListPromptsResult:
        return ListPromptsResult(prompts=[])

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None) -> GetPromptResult:
        raise KeyError(name)
