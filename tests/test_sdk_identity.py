"""The shortcut through the Agents SDK's agent-identity map
(chatapp/agent/sdk_identity.py): the same map as the SDK's own builder,
without hashing the agent's configuration on every turn."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from agents import Agent, function_tool
from agents import _run_state_agent_identity as identity
from agents import run_state
from agents.run_internal import tool_use_tracker

from chatapp.agent import sdk_identity
from chatapp.agent.assistant import Assistant
from chatapp.agent.offline import OfflineModel
from chatapp.agent.task_tools import TaskTools, TurnContext
from tests.support.api import Account, LiveApi, send


@function_tool
def ping() -> str:
    """Answers pong."""
    return "pong"


@pytest.fixture
def signatures(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every agent signature the SDK computes while the test runs."""
    computed: list[str] = []
    sdk_signature = identity._agent_identity_signature

    def counted(agent: Agent) -> str:
        computed.append(agent.name)
        return sdk_signature(agent)

    monkeypatch.setattr(identity, "_agent_identity_signature", counted)
    yield computed


async def real_agent(live_api: LiveApi, account: Account) -> Agent[TurnContext]:
    tools = TaskTools(f"{live_api.base_url}/mcp")
    try:
        context = TurnContext(sign_token=lambda: account.token)
        return await Assistant(tools, OfflineModel()).agent(context)
    finally:
        await tools.close()


def test_importing_the_assistant_installs_the_shortcut_everywhere_the_sdk_calls_the_builder() -> None:
    installed = identity._build_agent_identity_map
    assert installed is not sdk_identity.sdk_identity_map()
    assert tool_use_tracker._build_agent_identity_map is installed
    assert run_state._build_agent_identity_map is installed


def test_installing_twice_still_wraps_the_sdk_builder_once() -> None:
    sdk_builder = sdk_identity.sdk_identity_map()
    sdk_identity.install()
    assert identity._build_agent_identity_map.sdk_builder is sdk_builder  # type: ignore[attr-defined]


async def test_the_real_agent_gets_the_sdks_own_map_without_a_signature(
    live_api: LiveApi, alice: Account, signatures: list[str],
) -> None:
    agent = await real_agent(live_api, alice)
    assert len(agent.tools) >= 5
    shortcut = identity._build_agent_identity_map(agent)
    assert signatures == []
    expected = sdk_identity.sdk_identity_map()(agent)
    assert signatures == ["Task assistant"]  # the SDK's builder hashes even a lone agent
    assert list(shortcut.items()) == list(expected.items()) == [("Task assistant", agent)]


def test_a_graph_of_distinct_names_maps_in_the_sdks_breadth_first_order(signatures: list[str]) -> None:
    leaf = Agent(name="leaf", tools=[ping])
    helper = Agent(name="helper", handoffs=[leaf])
    root = Agent(name="root", handoffs=[helper], tools=[helper.as_tool("ask_helper", "Asks the helper")])
    shortcut = identity._build_agent_identity_map(root)
    assert signatures == []
    assert list(shortcut.items()) == list(sdk_identity.sdk_identity_map()(root).items())
    assert list(shortcut) == ["root", "helper", "leaf"]


def test_agents_that_share_a_name_are_told_apart_by_the_sdks_own_builder(signatures: list[str]) -> None:
    first, second = Agent(name="twin", instructions="one"), Agent(name="twin", instructions="two")
    root = Agent(name="root", handoffs=[first, second])
    shortcut = identity._build_agent_identity_map(root)
    assert signatures  # the SDK sorted the twins on their signatures
    assert list(shortcut.items()) == list(sdk_identity.sdk_identity_map()(root).items())
    assert set(shortcut) == {"root", "twin", "twin#2"}


def test_a_served_tool_turn_computes_no_agent_signature(
    live_api: LiveApi, client: httpx.Client, alice: Account, signatures: list[str],
) -> None:
    send(client, alice, "hello")  # the first turn builds the agent
    signatures.clear()
    response = send(client, alice, "Add task: Buy groceries")
    assert response.status_code == 200, response.text
    assert [call["tool_name"] for call in response.json()["messages"][-1]["tool_calls"]] == ["add_task"]
    assert signatures == []


def test_without_the_shortcut_the_same_turn_hashes_the_agent_several_times(
    live_api: LiveApi, client: httpx.Client, alice: Account, signatures: list[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for module in (identity, tool_use_tracker, run_state):
        monkeypatch.setattr(module, "_build_agent_identity_map", sdk_identity.sdk_identity_map())
    send(client, alice, "hello")
    signatures.clear()
    assert send(client, alice, "Add task: Buy groceries").status_code == 200
    assert len(signatures) >= 3
