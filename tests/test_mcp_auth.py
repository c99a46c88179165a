"""/mcp as an OAuth 2.0 protected resource (MCP authorization, 2025-11-25),
through the official `mcp` client over streamable HTTP: 401 with the
resource-metadata challenge, RFC 9728 metadata, audiences, typed results."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import httpx2
import jwt
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import Engine

from chatapp.services.auth import issue_tool_token
from tests.support.api import Account, LiveApi, register, serve
from tests.support.mcp_client import INITIALIZE, MCP_HEADERS, mcp_session, result_of

def test_a_request_without_a_token_is_401_with_the_resource_metadata_challenge(live_api: LiveApi) -> None:
    response = httpx.post(f"{live_api.base_url}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    public = live_api.settings.base_url  # PUBLIC_URL: what clients are told, whatever port the test server has
    assert f'resource_metadata="{public}/.well-known/oauth-protected-resource/mcp"' in challenge


def test_public_url_sets_the_absolute_urls_of_the_metadata(engine: Engine) -> None:
    for api in serve(engine, public_url="https://chat.example.com"):
        metadata = httpx.get(f"{api.base_url}/.well-known/oauth-protected-resource").json()
        assert metadata["resource"] == "https://chat.example.com/mcp"
        assert metadata["authorization_servers"] == ["https://chat.example.com"]


@pytest.mark.parametrize("path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"])
def test_protected_resource_metadata_describes_the_mcp_server(live_api: LiveApi, path: str) -> None:
    metadata = httpx.get(f"{live_api.base_url}{path}").json()
    assert metadata["resource"] == f"{live_api.settings.base_url}/mcp"
    assert metadata["authorization_servers"] == [live_api.settings.base_url]
    assert metadata["bearer_methods_supported"] == ["header"]


async def test_a_users_own_token_works_in_an_mcp_client_with_typed_results(live_api: LiveApi, alice: Account) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {alice.token}"}, timeout=30) as http:
        async with streamable_http_client(f"{live_api.base_url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {tool.name: tool for tool in (await session.list_tools()).tools}
                # call_tool validates structured content against the declared output schema
                added = await session.call_tool("add_task", {"title": "Typed"})
                listed = await session.call_tool("list_tasks", {"status": "all"})
    assert all(tool.output_schema and tool.output_schema.get("properties") for tool in tools.values())
    assert set(tools["list_tasks"].output_schema["properties"]) >= {"status", "tasks", "count"}
    assert not added.is_error and added.structured_content["task_id"] == 1
    assert listed.structured_content["tasks"][0]["title"] == "Typed"


async def test_an_mcp_client_without_a_token_cannot_initialize(live_api: LiveApi) -> None:
    with pytest.raises(Exception):
        async with mcp_session(live_api, None) as session:
            await session.list_tools()


def test_access_tokens_name_both_the_api_and_the_mcp_server(live_api: LiveApi, alice: Account) -> None:
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    public = live_api.settings.base_url
    assert sorted(claims["aud"]) == sorted([f"{public}/api", f"{public}/mcp"])
    assert claims["iss"] == public


async def test_the_per_turn_tool_token_works_on_mcp(live_api: LiveApi, alice: Account) -> None:
    token = issue_tool_token(uuid.UUID(alice.user_id), live_api.settings, 60)
    async with mcp_session(live_api, token) as session:
        assert result_of(await session.call_tool("add_task", {"title": "from a turn"}))["task_id"] == 1


def test_the_per_turn_tool_token_is_refused_by_the_rest_api(live_api: LiveApi, alice: Account) -> None:
    token = issue_tool_token(uuid.UUID(alice.user_id), live_api.settings, 60)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == [f"{live_api.settings.base_url}/mcp"]
    response = httpx.get(f"{live_api.base_url}/api/{alice.user_id}/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error_code"] == "invalid_auth"


def test_a_token_for_another_deployment_is_refused_by_mcp(live_api: LiveApi, alice: Account) -> None:
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    claims["aud"] = ["https://elsewhere.example/mcp"]
    forged = jwt.encode(claims, live_api.settings.jwt_signing_key, algorithm="HS256")
    response = httpx.post(f"{live_api.base_url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_a_plain_get_on_mcp_is_405_at_once(live_api: LiveApi, alice: Account) -> None:
    response = httpx.get(f"{live_api.base_url}/mcp", headers={"Authorization": f"Bearer {alice.token}"}, timeout=5)
    assert response.status_code == 405 and response.headers["allow"] == "POST"


async def test_a_task_id_beyond_the_column_is_a_quick_tool_error(live_api: LiveApi, alice: Account) -> None:
    async with mcp_session(live_api, alice.token) as session:
        call = await session.call_tool("complete_task", {"task_id": 2**40})
    assert call.is_error and "task_id" in call.content[0].text


async def test_a_nul_in_a_title_is_a_tool_error(live_api: LiveApi, alice: Account) -> None:
    async with mcp_session(live_api, alice.token) as session:
        call = await session.call_tool("add_task", {"title": "a\x00b"})
    assert call.is_error and "NUL" in call.content[0].text


def test_an_unlisted_host_is_refused(live_api: LiveApi, alice: Account) -> None:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {alice.token}", "Host": "evil.example"}
    assert httpx.post(f"{live_api.base_url}/mcp", json=INITIALIZE, headers=headers).status_code == 421


@pytest.fixture
def named_host_api(engine: Engine) -> Iterator[LiveApi]:
    yield from serve(engine, mcp_allowed_hosts="chat.example.com", mcp_allowed_origins="https://chat.example.com")


def test_mcp_allowed_hosts_lets_mcp_work_behind_a_real_hostname(named_host_api: LiveApi) -> None:
    with httpx.Client(base_url=named_host_api.base_url, timeout=30) as http:
        account = register(http)
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {account.token}", "Host": "chat.example.com",
               "Origin": "https://chat.example.com"}
    assert httpx.post(f"{named_host_api.base_url}/mcp", json=INITIALIZE, headers=headers).status_code == 200
    headers["Origin"] = "https://evil.example"
    assert httpx.post(f"{named_host_api.base_url}/mcp", json=INITIALIZE, headers=headers).status_code == 403


def test_a_jwt_secret_passed_to_the_app_signs_and_verifies_a_whole_tool_turn(engine: Engine) -> None:
    """The settings handed to `create_api` are the ones every part uses: the
    turn signs its tool token with them and the MCP server checks it with
    them, whatever the process's own environment says."""
    secret = "a-secret-only-this-app-knows-" + "y" * 40
    for api in serve(engine, jwt_secret=secret):
        with httpx.Client(base_url=api.base_url, timeout=60) as http:
            account = register(http)
            response = http.post(account.chat_path(), headers=account.headers, json={"message": "Add task: Buy milk"})
            tasks = http.get(f"/api/{account.user_id}/tasks", headers=account.headers).json()
    assert jwt.decode(account.token, secret, algorithms=["HS256"], options={"verify_aud": False})["sub"] == account.user_id
    call = response.json()["messages"][-1]["tool_calls"][0]
    assert call["result"]["status"] == "created"
    assert [task["title"] for task in tasks["tasks"]] == ["Buy milk"]
