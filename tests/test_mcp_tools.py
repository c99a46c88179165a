"""The task tools over real MCP (streamable HTTP and stdio): the five tools,
structured results, and each user's token reaching only their own tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.support.api import Account, LiveApi
from tests.support.mcp_client import mcp_session, result_of
from tests.support.paths import ROOT


async def test_server_lists_the_five_task_tools(live_api: LiveApi, alice: Account) -> None:
    async with mcp_session(live_api, alice.token) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"}
    assert "user_id" not in json.dumps([tool.input_schema for tool in tools.values()])
    assert tools["list_tasks"].input_schema["properties"]["status"]["enum"] == ["all", "pending", "completed"]


async def test_tools_return_structured_results(live_api: LiveApi, alice: Account) -> None:
    async with mcp_session(live_api, alice.token) as session:
        added = result_of(await session.call_tool("add_task", {"title": "Buy groceries", "description": "milk, eggs"}))
        assert added == {"task_id": 1, "status": "created", "title": "Buy groceries", "description": "milk, eggs"}
        renamed = result_of(await session.call_tool("update_task", {"task_id": 1, "title": "Buy food"}))
        assert renamed == {"task_id": 1, "status": "updated", "title": "Buy food", "description": "milk, eggs"}
        done = result_of(await session.call_tool("complete_task", {"task_id": 1}))
        assert done == {"task_id": 1, "status": "completed", "title": "Buy food"}
        listed = result_of(await session.call_tool("list_tasks", {"status": "completed"}))
        assert listed == {
            "status": "ok", "filter": "completed", "count": 1,
            "tasks": [{"task_id": 1, "title": "Buy food", "description": "milk, eggs", "completed": True}],
        }
        assert result_of(await session.call_tool("list_tasks", {"status": "pending"}))["count"] == 0
        deleted = result_of(await session.call_tool("delete_task", {"task_id": 1}))
        assert deleted == {"task_id": 1, "status": "deleted", "title": "Buy food"}


async def test_tool_results_read_in_a_fixed_field_order(live_api: LiveApi, alice: Account) -> None:
    """The model reads the text content: its fields come in one order."""
    async with mcp_session(live_api, alice.token) as session:
        added = await session.call_tool("add_task", {"title": "Buy groceries"})
        listed = await session.call_tool("list_tasks", {})
    assert list(json.loads(added.content[0].text)) == ["task_id", "status", "title", "description"]
    listing = json.loads(listed.content[0].text)
    assert list(listing) == ["status", "filter", "count", "tasks"]
    assert list(listing["tasks"][0]) == ["task_id", "title", "description", "completed"]


async def test_unknown_task_is_a_structured_error_not_a_crash(live_api: LiveApi, alice: Account) -> None:
    async with mcp_session(live_api, alice.token) as session:
        for tool in ("complete_task", "delete_task"):
            result = result_of(await session.call_tool(tool, {"task_id": 99}))
            assert result == {"task_id": 99, "status": "error", "error": "not_found", "message": "Task 99 not found."}
        empty_title = result_of(await session.call_tool("add_task", {"title": "  "}))
        assert empty_title["status"] == "error" and empty_title["error"] == "invalid_request"


async def test_task_ids_are_numbered_per_user_from_one(live_api: LiveApi, alice: Account, bob: Account) -> None:
    async with mcp_session(live_api, alice.token) as session:
        await session.call_tool("add_task", {"title": "a1"})
        assert result_of(await session.call_tool("add_task", {"title": "a2"}))["task_id"] == 2
    async with mcp_session(live_api, bob.token) as session:
        assert result_of(await session.call_tool("add_task", {"title": "b1"}))["task_id"] == 1


async def test_one_users_token_cannot_touch_another_users_tasks(live_api: LiveApi, alice: Account, bob: Account) -> None:
    async with mcp_session(live_api, alice.token) as session:
        result_of(await session.call_tool("add_task", {"title": "Alice's task"}))
    async with mcp_session(live_api, bob.token) as session:
        assert result_of(await session.call_tool("list_tasks", {}))["tasks"] == []
        assert result_of(await session.call_tool("complete_task", {"task_id": 1}))["error"] == "not_found"
        assert result_of(await session.call_tool("delete_task", {"task_id": 1}))["error"] == "not_found"
    async with mcp_session(live_api, alice.token) as session:
        [task] = result_of(await session.call_tool("list_tasks", {}))["tasks"]
    assert task == {"task_id": 1, "title": "Alice's task", "description": None, "completed": False}


@pytest.mark.parametrize("token", [None, "not.a.jwt"])
async def test_calls_without_a_valid_token_are_refused(live_api: LiveApi, alice: Account, token: str | None) -> None:
    with pytest.raises(Exception):
        async with mcp_session(live_api, token) as session:
            await session.call_tool("add_task", {"title": "sneaky"})
    with httpx.Client(base_url=live_api.base_url) as http:
        assert http.get(f"/api/{alice.user_id}/tasks", headers=alice.headers).json()["count"] == 0


async def test_tools_also_run_over_stdio(database_url: str, live_api: LiveApi, alice: Account) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "CHATAPP_TOKEN": alice.token, "PYTHONPATH": str(ROOT),
           "PUBLIC_URL": live_api.settings.base_url}  # the same deployment: the token's audience
    params = StdioServerParameters(command=sys.executable, args=["-m", "chatapp.tools"], env=env, cwd=str(ROOT))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            assert len((await session.list_tools()).tools) == 5
            assert result_of(await session.call_tool("add_task", {"title": "via stdio"}))["task_id"] == 1
    with httpx.Client(base_url=live_api.base_url) as http:
        assert http.get(f"/api/{alice.user_id}/tasks", headers=alice.headers).json()["tasks"][0]["title"] == "via stdio"


def test_the_stdio_server_names_a_setting_that_does_not_parse() -> None:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "WORKERS": "four", "PYTHONPATH": str(ROOT)}
    ran = subprocess.run([sys.executable, "-m", "chatapp.tools"], env=env, cwd=str(ROOT), capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == ["python -m chatapp.tools: WORKERS='four': WORKERS must be a whole number, not 'four'."]
