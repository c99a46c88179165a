"""The agent's side of the task MCP server.

A full MCP client session costs four HTTP round trips (initialize, the
initialized notification, a tools/list the client makes to validate output,
then the call) — more than the rest of a turn. The server runs stateless, so
this client pays only for what a turn uses:

- the tool list is static schema: fetched once per endpoint (with the SDK's
  `Client`) and converted to SDK function tools once, so agents are
  built once, not per turn;
- each tool call is one JSON-RPC `tools/call` POST to the MCP endpoint, on a
  pooled aiohttp connection, with the acting user's bearer token: exactly the
  request the SDK's client session sends, without the session (redirects
  followed within the origin, JSON-RPC answers and errors read as it reads
  them; the SDK's further checks of a result against its revision's schema
  and the tool's output schema are left to the server that made it).
  The session costs a task group, memory streams and a writer task per call
  (a fifth of a tool turn's CPU) to carry a single request and its answer;
- the protocol revision is settled once, when the tools are listed, by the
  SDK's own client (`mode="auto"`: `server/discover`, falling back to the
  initialize handshake). On 2026-07-28, each call carries that revision's
  per-request envelope (`_meta` and the `MCP-Protocol-Version`, `Mcp-Method`,
  `Mcp-Name`, `Mcp-Param-*` headers), and the SDK's server answers it in
  the request's own task. A handshake-era call makes that server start a
  transport, a dispatcher and a task group for each request: 1 ms more of
  its CPU per call, measured. A 400 to a 2026-07-28 call (an older server
  behind the same URL in a rolling deploy refuses the framing so) makes the
  next call settle the wire again; a wire settled at a handshake revision
  stays so until the worker restarts.

The token travels in the run context (`TurnContext`); the SDK's meta-resolver
hook hands it to `call_tool`, which sends it as the Authorization header and
never as a tool argument or MCP `_meta`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import httpx2
from agents import FunctionTool
from agents.mcp import MCPServer, MCPUtil
from agents.mcp.util import MCPToolMetaContext
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import stream_within_origin
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import (
    MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER, encode_header_value, mcp_param_headers,
    x_mcp_header_map,
)
from mcp.types import (
    CallToolRequest, CallToolRequestParams, CallToolResult, GetPromptResult, Implementation, ListPromptsResult, Tool,
)
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY
from mcp_types.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from openai._vendor.httpx_aiohttp import AiohttpTransport
from pydantic import ValidationError

from chatapp.logs import request_id

logger = logging.getLogger(__name__)

MCP_TIMEOUT = httpx2.Timeout(30.0, connect=5.0)
# What the SDK's streamable HTTP client sends with every POST.
MCP_POST_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CREDENTIAL = "chatapp/bearer"
CLIENT_INFO = Implementation(name="chatapp", version="1.0.0")
CLIENT_ENVELOPE_INFO = CLIENT_INFO.model_dump(by_alias=True, mode="json", exclude_none=True)


@dataclass(frozen=True)
class TurnContext:
    """Per-turn run context: the credential the tools act with, signed on
    first use. A turn that calls no tool signs none: a JWT signature was 2%
    of a plain turn's CPU."""

    sign_token: Callable[[], str]

    @cached_property
    def tool_token(self) -> str:
        return self.sign_token()


def pooled_transport() -> httpx2.AsyncBaseTransport:
    """httpx's client API (the SDK's redirect rule and error types) over
    aiohttp's connection pool and C HTTP parser: the openai package's own
    transport, as the model provider's client uses. httpcore's pure-Python
    HTTP/1.1 took 2.6 ms of a worker's CPU per tool call, this 1.9 ms."""
    return AiohttpTransport(limits=httpx2.Limits(max_connections=64), trust_env=False)


def call_headers(token: str | None) -> dict[str, str]:
    """Who the call acts for, and the turn's request id, so the tool call
    logs under the id of the turn's request."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if (turn_request := request_id.get()) is not None:
        headers["X-Request-ID"] = turn_request
    return headers


def event_data(body: str) -> list[str]:
    """The data of each event in an event-stream body (its `data:` lines
    joined with newlines, as the SSE format says)."""
    events: list[str] = []
    data: list[str] = []
    for line in re.split(r"\r\n|\r|\n", body):
        if not line:
            if data:
                events.append("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
    if data:
        events.append("\n".join(data))
    return events


def jsonrpc_answer(body: bytes, content_type: str, call_id: int) -> dict[str, Any] | None:
    """The JSON-RPC message that answers request `call_id`, from a JSON body
    or (a server may stream its answer) an event stream. An error with a
    null id answers it too: the server sends one when it refuses a request
    before reading its id, and the SDK's session takes it as the answer."""
    try:
        if content_type.startswith("application/json"):
            messages = [json.loads(body)]
        elif content_type.startswith("text/event-stream"):
            messages = [json.loads(data) for data in event_data(body.decode()) if data.strip()]
        else:
            return None
    except ValueError:
        return None
    answers = [m for m in messages if isinstance(m, dict)
               and (m.get("id") == call_id or (m.get("id") is None and "error" in m))]
    return answers[0] if answers else None


def call_result(
    status: int, content_type: str, body: bytes, call_id: int, *, location: str | None = None,
) -> CallToolResult:
    """A tools/call answer as the SDK's client session reads it: the result,
    or `MCPError` carrying the server's JSON-RPC error (or, without one, the
    stand-in the session uses for that HTTP status)."""
    if 300 <= status < 400:
        raise MCPError(INVALID_REQUEST, f"Redirect to {location} not followed; use that URL as the endpoint "
                                        "if it is the intended server")
    answer = jsonrpc_answer(body, content_type.lower(), call_id)
    if answer is not None and isinstance(answer.get("error"), dict):
        error = answer["error"]
        code = error.get("code")
        raise MCPError(code if isinstance(code, int) else INTERNAL_ERROR, str(error.get("message", "")),
                       error.get("data"))
    if status >= 400:
        if status == 404:
            raise MCPError(METHOD_NOT_FOUND, "Not Found")
        raise MCPError(INTERNAL_ERROR, "Server returned an error response")
    if answer is None or "result" not in answer:
        raise MCPError(INVALID_REQUEST, f"no answer to tools/call in the server's {status} response")
    try:
        return CallToolResult.model_validate(answer["result"])
    except ValidationError as error:
        raise MCPError(INTERNAL_ERROR, f"malformed tools/call result: {error.error_count()} errors") from error


@asynccontextmanager
async def mcp_client(url: str, token: str | None, transport: httpx2.AsyncBaseTransport) -> AsyncIterator[Client]:
    """The SDK's client, speaking as `token`'s user at the newest revision
    the server shares with it. No response cache: the tools are listed once."""
    http_client = httpx2.AsyncClient(
        transport=transport,
        headers=call_headers(token),
        timeout=MCP_TIMEOUT,
        trust_env=False,
    )
    # Not closed with the client: closing the HTTP client would close the shared pool.
    connection = streamable_http_client(url, http_client=http_client, terminate_on_close=False)
    try:
        async with Client(connection, mode="auto", client_info=CLIENT_INFO, cache=None) as client:
            yield client
        return
    except BaseExceptionGroup as group:
        error = sole_error(group)
        if error is group:
            raise
    raise error  # outside the handler, so its own cause and context stay as they were


def sole_error(error: BaseException) -> BaseException:
    """The one error inside nested groups of one: the client's transport
    runs in anyio task groups, which wrap what failed (a refused token's
    MCPError, a connection error) in a group each. A caller gets that error,
    as from a call; a group of several is left as it is."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


@dataclass(frozen=True)
class Wire:
    """How calls are framed, as settled when the tools were listed: the
    protocol revision, and (2026-07-28) which arguments each tool mirrors
    into `Mcp-Param-*` headers."""

    version: str
    # Our own tools mark no argument `x-mcp-header`, so this is empty for them.
    param_headers: Mapping[str, Mapping[tuple[str, ...], str]]

    @property
    def per_request_envelope(self) -> bool:
        return self.version in MODERN_PROTOCOL_VERSIONS

    def frame(self, message: dict[str, Any]) -> dict[str, str]:
        """Stamp a tools/call as the SDK's client session stamps it on this
        revision (`mcp.client.session`'s `_make_handshake_stamp` and
        `_make_modern_stamp`). The client advertises no capabilities: it
        takes no sampling, elicitation or roots requests. The envelope goes
        into `message`; the headers are returned."""
        headers = {MCP_PROTOCOL_VERSION_HEADER: self.version}
        if not self.per_request_envelope:
            return headers
        params = message["params"]
        params.setdefault("_meta", {}).update({
            PROTOCOL_VERSION_META_KEY: self.version,
            CLIENT_INFO_META_KEY: CLIENT_ENVELOPE_INFO,
            CLIENT_CAPABILITIES_META_KEY: {},
        })
        name = params["name"]
        headers[MCP_METHOD_HEADER] = message["method"]
        headers[MCP_NAME_HEADER] = encode_header_value(name)
        if header_map := self.param_headers.get(name):
            headers.update(mcp_param_headers(header_map, params.get("arguments") or {}))
        return headers


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

    def __init__(self, url: str, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        super().__init__(tool_meta_resolver=credential_from_context)
        self.url = url
        self._tools: list[Tool] | None = None
        self.wire: Wire | None = None
        self._listing: asyncio.Future[tuple[list[Tool], Wire]] | None = None
        self._transport = transport or pooled_transport()
        self._http = httpx2.AsyncClient(transport=self._transport, timeout=MCP_TIMEOUT, trust_env=False)
        self._call_ids = itertools.count(1)

    async def close(self) -> None:
        await self._http.aclose()
        await self._transport.aclose()

    @property
    def name(self) -> str:
        return "tasks"

    async def connect(self) -> None:
        """Nothing to hold open: each call is a request of its own."""

    async def cleanup(self) -> None:
        """Nothing held open."""

    async def list_tools(self, run_context: Any = None, agent: Any = None, *, token: str | None = None) -> list[Tool]:
        """The server's tools, fetched once, which also settles the wire
        every call uses. /mcp is a protected resource, so the fetch carries
        a token: the turn's own, which is all the process has."""
        if self._tools is not None and self.wire is not None:
            return self._tools
        turn = getattr(run_context, "context", None)
        token = token or (turn.tool_token if isinstance(turn, TurnContext) else None)
        return (await self._settled(token))[0]

    async def _settled(self, token: str | None) -> tuple[list[Tool], Wire]:
        """One listing at a time, its outcome shared: a worker's first turns
        wait for the same listing and, if it fails, fail with it, rather
        than each trying again in turn behind the last one's timeout. Its
        callers take the settled wire themselves when there is one."""
        if self._listing is None or self._listing.done():
            self._listing = asyncio.ensure_future(self._settle(token))
            self._listing.add_done_callback(lambda listing: listing.cancelled() or listing.exception())
        return await asyncio.shield(self._listing)

    async def _settle(self, token: str | None) -> tuple[list[Tool], Wire]:
        async with mcp_client(self.url, token, self._transport) as client:
            tools = list((await client.list_tools()).tools)
            wire = Wire(client.protocol_version, {
                tool.name: header_map for tool in tools if (header_map := x_mcp_header_map(tool.input_schema))
            })
        if wire.per_request_envelope:
            logger.info("MCP tool calls go at protocol revision %s", wire.version)
        else:
            logger.warning("MCP tool calls go at protocol revision %s: the server at %s did not take 2026-07-28, "
                           "so each call costs it a transport of its own", wire.version, self.url)
        self._tools, self.wire = tools, wire
        return tools, wire

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        meta = dict(meta or {})
        token = meta.pop(CREDENTIAL, None)
        wire = self.wire or (await self._settled(token))[1]
        request = CallToolRequest(
            params=CallToolRequestParams(name=tool_name, arguments=arguments or {}, _meta=meta or None)
        )
        call_id = next(self._call_ids)
        message = {"jsonrpc": "2.0", "id": call_id,
                   **request.model_dump(by_alias=True, mode="json", exclude_none=True)}
        headers = {**MCP_POST_HEADERS, **call_headers(token), **wire.frame(message)}
        # As the SDK's transport sends it: 307/308 within the origin (a
        # trailing-slash fix-up) are followed, any other redirect is not.
        async with stream_within_origin(self._http, "POST", self.url, json=message, headers=headers) as response:
            body = await response.aread()
        try:
            return call_result(response.status_code, response.headers.get("content-type", ""), body, call_id,
                               location=response.headers.get("location"))
        except MCPError:
            # A 400 to a 2026-07-28 call is how servers refuse its framing
            # before running anything: this SDK with its own codes, the
            # Python SDK 1.x and the TypeScript SDK with theirs. Settle again
            # (a single listing if the refusal was for something else).
            if wire.per_request_envelope and response.status_code == 400 and self.wire is wire:
                self.wire = None
            raise

    async def list_prompts(self) -> ListPromptsResult:
        return ListPromptsResult(prompts=[])

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None) -> GetPromptResult:
        raise KeyError(name)

    async def function_tools(self, token: str | None = None) -> list[FunctionTool]:
        """The MCP tools as SDK function tools that call back over MCP."""
        tools = await self.list_tools(token=token)
        return [MCPUtil.to_function_tool(tool, self, convert_schemas_to_strict=False) for tool in tools]

