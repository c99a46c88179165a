"""Each run borrows a copy of the agent of its own (Assistant.lease): the
Agents SDK compares every concurrent run of one agent object with every
other at each step, so runs sharing one agent would cost more the more of
them are in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import Agent, Runner

from chatapp.agent import assistant as assistant_module
from chatapp.agent.assistant import AgentReply, Assistant, stream_assistant
from chatapp.agent.offline import OfflineModel
from chatapp.agent.task_tools import TaskTools, TurnContext
from tests.support.api import Account, LiveApi


@pytest.fixture
async def assistant(live_api: LiveApi) -> Any:
    tools = TaskTools(f"{live_api.base_url}/mcp")
    try:
        yield Assistant(tools, OfflineModel(stream_delay_ms=5))
    finally:
        await tools.close()


def context_of(account: Account) -> TurnContext:
    return TurnContext(sign_token=lambda: account.token)


async def test_runs_at_the_same_time_each_borrow_their_own_copy_of_the_agent(
    assistant: Assistant, alice: Account,
) -> None:
    context = context_of(alice)
    async with assistant.lease(context) as one, assistant.lease(context) as two:
        assert one is not two
        prototype = await assistant.agent(context)
        for copy in (one, two):
            assert copy is not prototype
            assert (copy.name, copy.instructions, copy.model, copy.tools) == (
                prototype.name, prototype.instructions, prototype.model, prototype.tools)


async def test_a_copy_given_back_is_lent_again_rather_than_a_new_one_made(
    assistant: Assistant, alice: Account,
) -> None:
    context = context_of(alice)
    async with assistant.lease(context) as first:
        pass
    async with assistant.lease(context) as second:
        assert second is first


async def test_concurrent_streamed_runs_never_share_an_agent(
    assistant: Assistant, alice: Account, monkeypatch: pytest.MonkeyPatch,
) -> None:
    agents_run: list[Agent[Any]] = []
    run_streamed = Runner.run_streamed

    def recording(agent: Agent[Any], *args: Any, **kwargs: Any) -> Any:
        agents_run.append(agent)
        return run_streamed(agent, *args, **kwargs)

    monkeypatch.setattr(assistant_module.Runner, "run_streamed", recording)

    async def one_turn() -> AgentReply:
        events = [event async for event in stream_assistant(
            assistant, context_of(alice), [{"role": "user", "content": "hello there"}])]
        assert isinstance(events[-1], AgentReply)
        return events[-1]

    replies = await asyncio.gather(*(one_turn() for _ in range(4)))
    assert all(reply.text for reply in replies)
    assert len({id(agent) for agent in agents_run}) == 4


async def test_a_run_closed_early_gives_its_copy_back(assistant: Assistant, alice: Account) -> None:
    events = stream_assistant(assistant, context_of(alice), [{"role": "user", "content": "hello there"}])
    await anext(events)
    assert assistant._idle == []  # lent out
    await events.aclose()
    assert len(assistant._idle) == 1
