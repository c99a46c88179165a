"""The agent's tool client (chatapp/agent/task_tools.py): each call is one
JSON-RPC POST to the real MCP endpoint, read the way the SDK's client
session reads it, results and errors alike."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import SERVER_INFO_META_KEY
from mcp_types.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND
from mcp_types.version import LATEST_HANDSHAKE_VERSION, LATEST_MODERN_VERSION

from chatapp.agent.task_tools import (
    CLIENT_INFO, CREDENTIAL, TaskTools, TurnContext, Wire, call_result, credential_from_context, event_data,
)
from tests.support.api import Account, LiveApi
from tests.support.mcp_client import result_of
from tests.support.ports import free_port


async def call(live_api: LiveApi, token: str, name: str, arguments: dict) -> object:
    tools = TaskTools(f"{live_api.base_url}/mcp")
    try:
        return await tools.call_tool(name, arguments, {CREDENTIAL: token})
    finally:
        await tools.close()


async def test_a_tool_call_acts_for_the_token_it_carries(live_api: LiveApi, alice: Account, bob: Account) -> None:
    added = result_of(await call(live_api, alice.token, "add_task", {"title": "Buy groceries"}))
    assert added["title"] == "Buy groceries"
    assert result_of(await call(live_api, alice.token, "list_tasks", {"status": "all"}))["count"] == 1
    assert result_of(await call(live_api, bob.token, "list_tasks", {"status": "all"}))["count"] == 0


async def test_a_missing_task_comes_back_as_the_tools_own_not_found_result(live_api: LiveApi, alice: Account) -> None:
    result = await call(live_api, alice.token, "complete_task", {"task_id": 999})
    assert result.structured_content["error"] == "not_found"  # type: ignore[attr-defined]


async def test_arguments_the_tool_refuses_come_back_as_an_error_result(live_api: LiveApi, alice: Account) -> None:
    result = await call(live_api, alice.token, "add_task", {"title": "a\x00b"})
    assert result.is_error and "NUL" in result.content[0].text  # type: ignore[attr-defined]


async def test_a_rejected_token_raises_an_mcp_error(live_api: LiveApi) -> None:
    with pytest.raises(MCPError) as raised:
        await call(live_api, "not-a-token", "list_tasks", {"status": "all"})
    assert raised.value.code == INTERNAL_ERROR


async def test_a_call_with_a_rejected_token_raises_an_mcp_error_once_the_tools_are_listed(
    live_api: LiveApi, alice: Account,
) -> None:
    tools = TaskTools(f"{live_api.base_url}/mcp")
    try:
        await tools.list_tools(token=alice.token)
        with pytest.raises(MCPError) as raised:
            await tools.call_tool("list_tasks", {"status": "all"}, {CREDENTIAL: "not-a-token"})
    finally:
        await tools.close()
    assert raised.value.code == INTERNAL_ERROR
    assert tools.wire is not None  # a refused token is no reason to settle the wire again


async def test_listing_from_a_server_that_is_not_there_raises_the_transports_error_with_its_cause() -> None:
    tools = TaskTools(f"http://127.0.0.1:{free_port()}/mcp")
    try:
        with pytest.raises(httpx2.TransportError) as raised:
            await tools.list_tools(token="token")
    finally:
        await tools.close()
    assert raised.value.__cause__ is not None  # the connection error underneath, errno and all


async def test_calls_go_at_the_per_request_revision_the_server_offers(live_api: LiveApi, alice: Account) -> None:
    tools = TaskTools(f"{live_api.base_url}/mcp")
    try:
        result = await tools.call_tool("list_tasks", {"status": "all"}, {CREDENTIAL: alice.token})
    finally:
        await tools.close()
    assert tools.wire is not None and tools.wire.version == LATEST_MODERN_VERSION
    assert SERVER_INFO_META_KEY in (result.meta or {})  # the server answered in 2026-07-28's terms


async def test_a_call_at_a_handshake_revision_is_still_answered(live_api: LiveApi, alice: Account) -> None:
    tools = TaskTools(f"{live_api.base_url}/mcp")
    tools.wire = Wire(LATEST_HANDSHAKE_VERSION, {})  # as agreed with a server that has no server/discover
    try:
        result = await tools.call_tool("add_task", {"title": "Call the plumber"}, {CREDENTIAL: alice.token})
    finally:
        await tools.close()
    assert result_of(result)["title"] == "Call the plumber"
    assert SERVER_INFO_META_KEY not in (result.meta or {})


class ScriptedServer:
    """An MCP endpoint in a `httpx2.MockTransport`: it records each request
    and answers the handshake, the listing (one tool, an argument marked
    `x-mcp-header`) and calls. `modern=False` is a server from before
    2026-07-28, as the Python SDK 1.x answers that revision: HTTP 400."""

    SCHEMA = {"type": "object", "properties": {"title": {"type": "string"},
                                               "region": {"type": "string", "x-mcp-header": "Region"}}}

    def __init__(self, *, modern: bool = True) -> None:
        self.modern = modern
        self.requests: list[httpx2.Request] = []

    @property
    def calls(self) -> list[httpx2.Request]:
        return [request for request in self.requests if json.loads(request.content).get("method") == "tools/call"]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        body = json.loads(request.content)
        method, at_modern = body.get("method"), request.headers.get("mcp-protocol-version") == LATEST_MODERN_VERSION
        if at_modern and not self.modern:
            return httpx2.Response(400, json={"jsonrpc": "2.0", "id": "server-error", "error": {
                "code": INVALID_REQUEST, "message": f"Bad Request: Unsupported protocol version: {LATEST_MODERN_VERSION}"}})
        if "id" not in body:
            return httpx2.Response(202)
        result = {
            "server/discover": {"supportedVersions": [LATEST_MODERN_VERSION], "capabilities": {"tools": {}}},
            "initialize": {"protocolVersion": LATEST_HANDSHAKE_VERSION, "capabilities": {"tools": {}},
                           "serverInfo": {"name": "scripted", "version": "1"}},
            "tools/list": {"tools": [{"name": "add_task", "inputSchema": self.SCHEMA}]},
            "tools/call": {"content": [{"type": "text", "text": "ok"}], "isError": False},
        }[method]
        if at_modern:
            result["resultType"] = "complete"
            if method in ("tools/list", "server/discover"):
                result.update(ttlMs=0, cacheScope="private")
        return httpx2.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})


def mcp_headers(request: httpx2.Request) -> dict[str, str]:
    return {name: value for name, value in request.headers.items() if name.startswith("mcp-")}


def call_body(request: httpx2.Request) -> dict:
    return {key: value for key, value in json.loads(request.content).items() if key != "id"}


@pytest.mark.parametrize("modern", [True, False], ids=["2026-07-28", "handshake"])
async def test_a_call_is_the_request_the_sdks_own_client_sends(modern: bool) -> None:
    arguments, meta = {"title": "Tea", "region": "eu"}, {"trace": "t1"}
    sdk_side = ScriptedServer(modern=modern)
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(sdk_side))
    connection = streamable_http_client("http://mcp.test/mcp", http_client=http, terminate_on_close=False)
    async with http, Client(connection, mode="auto", client_info=CLIENT_INFO, cache=None) as client:
        await client.list_tools()
        await client.call_tool("add_task", arguments, meta=meta)
    ours = ScriptedServer(modern=modern)
    tools = TaskTools("http://mcp.test/mcp", transport=httpx2.MockTransport(ours))
    try:
        await tools.call_tool("add_task", arguments, {**meta, CREDENTIAL: "token"})  # lists first, as the SDK did
    finally:
        await tools.close()
    [sdk_call], [our_call] = sdk_side.calls, ours.calls
    assert (call_body(our_call), mcp_headers(our_call)) == (call_body(sdk_call), mcp_headers(sdk_call))
    revision = LATEST_MODERN_VERSION if modern else LATEST_HANDSHAKE_VERSION
    assert mcp_headers(our_call)["mcp-protocol-version"] == revision
    assert ("mcp-param-region" in mcp_headers(our_call)) == modern


async def test_a_server_that_refuses_the_2026_framing_gets_the_next_call_at_a_revision_it_takes() -> None:
    older = ScriptedServer(modern=False)  # say, behind the same URL halfway through a rolling deploy
    tools = TaskTools("http://mcp.test/mcp", transport=httpx2.MockTransport(older))
    tools.wire = Wire(LATEST_MODERN_VERSION, {})  # settled against the newer server
    try:
        with pytest.raises(MCPError):
            await tools.call_tool("add_task", {"title": "Tea"}, {CREDENTIAL: "token"})
        assert tools.wire is None
        result = await tools.call_tool("add_task", {"title": "Tea"}, {CREDENTIAL: "token"})
    finally:
        await tools.close()
    assert result.content[0].text == "ok"  # type: ignore[union-attr]
    assert tools.wire is not None and tools.wire.version == LATEST_HANDSHAKE_VERSION
    assert mcp_headers(older.calls[-1])["mcp-protocol-version"] == LATEST_HANDSHAKE_VERSION


async def test_the_first_turns_of_a_worker_share_one_listing() -> None:
    server = ScriptedServer()
    tools = TaskTools("http://mcp.test/mcp", transport=httpx2.MockTransport(server))
    try:
        listed = await asyncio.gather(*(tools.list_tools(token="token") for _ in range(5)))
    finally:
        await tools.close()
    assert all(tools_ == listed[0] for tools_ in listed)
    assert [json.loads(r.content)["method"] for r in server.requests] == ["server/discover", "tools/list"]


def test_a_jsonrpc_error_in_the_body_is_raised_whatever_the_status() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "error": {"code": -32602, "message": "bad params"}}).encode()
    with pytest.raises(MCPError) as raised:
        call_result(400, "application/json", body, 7)
    assert (raised.value.code, raised.value.message) == (-32602, "bad params")


def test_a_404_without_a_jsonrpc_body_is_method_not_found() -> None:
    with pytest.raises(MCPError) as raised:
        call_result(404, "text/plain", b"Not Found", 1)
    assert raised.value.code == METHOD_NOT_FOUND


def test_an_answer_streamed_as_events_is_read_from_its_data_line() -> None:
    answer = {"jsonrpc": "2.0", "id": 3, "result": {"content": [{"type": "text", "text": "done"}], "isError": False}}
    body = f"event: message\ndata: {json.dumps(answer)}\n\n".encode()
    result = call_result(200, "text/event-stream", body, 3)
    assert result.content[0].text == "done" and not result.is_error  # type: ignore[union-attr]


def test_a_body_that_answers_another_request_is_an_error() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 2, "result": {"content": []}}).encode()
    with pytest.raises(MCPError):
        call_result(200, "application/json", body, 1)


def test_the_turns_tool_token_is_signed_once_and_only_when_a_tool_needs_it() -> None:
    signed: list[str] = []

    def sign() -> str:
        signed.append("token")
        return "token"

    context = TurnContext(sign)
    assert signed == []
    tool_call = SimpleNamespace(run_context=SimpleNamespace(context=context))  # what the SDK hands the resolver
    assert credential_from_context(tool_call) == {CREDENTIAL: "token"}  # type: ignore[arg-type]
    assert context.tool_token == "token" and signed == ["token"]


async def test_a_redirect_within_the_origin_is_followed(live_api: LiveApi, alice: Account) -> None:
    tools = TaskTools(f"{live_api.base_url}/mcp/")  # answered 307 → /mcp, as the SDK's transport follows
    try:
        result = await tools.call_tool("list_tasks", {"status": "all"}, {CREDENTIAL: alice.token})
    finally:
        await tools.close()
    assert result_of(result)["count"] == 0


def test_a_redirect_left_unfollowed_names_where_it_pointed() -> None:
    with pytest.raises(MCPError) as raised:
        call_result(307, "text/plain", b"", 1, location="https://elsewhere.example/mcp")
    assert raised.value.code == INVALID_REQUEST and "https://elsewhere.example/mcp" in raised.value.message


def test_an_error_the_server_sends_before_reading_the_id_answers_the_call() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Bad Request"}}).encode()
    with pytest.raises(MCPError) as raised:
        call_result(400, "application/json", body, 5)
    assert (raised.value.code, raised.value.message) == (-32600, "Bad Request")


def test_an_error_without_a_numeric_code_is_an_internal_error() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": None, "message": "odd"}}).encode()
    with pytest.raises(MCPError) as raised:
        call_result(200, "application/json", body, 1)
    assert raised.value.code == INTERNAL_ERROR


def test_an_events_data_lines_are_joined_and_only_line_breaks_split_them() -> None:
    body = 'event: message\r\ndata: {"text":\ndata:  "a\u2028b"}\n\ndata: second\n'
    assert event_data(body) == ['{"text":\n "a\u2028b"}', "second"]
