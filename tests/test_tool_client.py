"""The agent's tool client (chatapp/agent/task_tools.py): each call is one
JSON-RPC POST to the real MCP endpoint, read the way the SDK's client
session reads it, results and errors alike."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from mcp.client.session import _make_modern_stamp
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import mcp_param_headers, x_mcp_header_map
from mcp_types.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND
from mcp_types.version import LATEST_HANDSHAKE_VERSION, LATEST_MODERN_VERSION

from chatapp.agent.task_tools import (
    CLIENT_ENVELOPE_INFO, CREDENTIAL, TaskTools, TurnContext, Wire, call_result, credential_from_context, event_data,
)
from tests.support.api import Account, LiveApi
from tests.support.mcp_client import result_of


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


SERVER_INFO_STAMP = "io.modelcontextprotocol/serverInfo"  # on a 2026-07-28 result only


async def test_calls_go_at_the_per_request_revision_the_server_offers(live_api: LiveApi, alice: Account) -> None:
    tools = TaskTools(f"{live_api.base_url}/mcp")
    try:
        result = await tools.call_tool("list_tasks", {"status": "all"}, {CREDENTIAL: alice.token})
    finally:
        await tools.close()
    assert tools.wire is not None and tools.wire.version == LATEST_MODERN_VERSION
    assert SERVER_INFO_STAMP in (result.meta or {})


async def test_a_call_at_a_handshake_revision_is_still_answered(live_api: LiveApi, alice: Account) -> None:
    tools = TaskTools(f"{live_api.base_url}/mcp")
    tools.wire = Wire(LATEST_HANDSHAKE_VERSION, {})  # as agreed with a server that has no server/discover
    try:
        result = await tools.call_tool("add_task", {"title": "Call the plumber"}, {CREDENTIAL: alice.token})
    finally:
        await tools.close()
    assert result_of(result)["title"] == "Call the plumber"
    assert SERVER_INFO_STAMP not in (result.meta or {})


def test_a_call_is_stamped_as_the_sdks_client_session_stamps_it() -> None:
    schema = {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}
    header_map = x_mcp_header_map(schema)
    call = {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "add_task", "arguments": {"title": "Tea", "region": "eu"}, "_meta": {"trace": "t1"}}}
    ours, our_headers = json.loads(json.dumps(call)), {}
    Wire(LATEST_MODERN_VERSION, {"add_task": header_map}).frame(ours, our_headers)
    sdks, options = json.loads(json.dumps(call)), {}
    stamp = _make_modern_stamp(LATEST_MODERN_VERSION, CLIENT_ENVELOPE_INFO, {},
                               lambda name, arguments: mcp_param_headers(header_map, arguments))
    stamp(sdks, options)  # type: ignore[arg-type]
    assert (ours, our_headers) == (sdks, options["headers"])
    assert our_headers["Mcp-Param-Region"] == "eu"


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
