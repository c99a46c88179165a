"""The offline model: phrasings become real tool calls, "it" and titles are
resolved from the conversation, replies are written from tool results, and
the SDK runner (plain and streamed) accepts what it produces."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from agents import Agent, ModelSettings, Runner, function_tool, set_tracing_disabled
from agents.items import ModelResponse
from agents.models.interface import Model, ModelTracing
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseTextDeltaEvent,
)

from chatapp.agent.offline import HELP_TEXT, OfflineModel, parse_intent
from chatapp.agent.offline.replies import CONFIRMATIONS, confirmed_task_id

set_tracing_disabled(True)

Items = list[Any]


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": json.dumps(arguments)}


def output(call_id: str, result: Any) -> dict[str, Any]:
    """A tool output as stored in the database: the JSON of the result."""
    text = result if isinstance(result, str) else json.dumps(result)
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def mcp_output(call_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """A tool output as the runner builds it from MCP text content."""
    return {
        "type": "function_call_output",
        "call_id": call_id,
        "output": [{"type": "input_text", "text": json.dumps(result)}],
    }


def task(task_id: int, title: str, completed: bool = False) -> dict[str, Any]:
    return {"task_id": task_id, "title": title, "description": None, "completed": completed}


def listing(*tasks: dict[str, Any], status: str = "all") -> dict[str, Any]:
    return {"status": "ok", "filter": status, "count": len(tasks), "tasks": list(tasks)}


async def respond(items: Items | str) -> ModelResponse:
    return await OfflineModel().get_response(
        system_instructions="You manage tasks.",
        input=items,
        model_settings=ModelSettings(),
        tools=[],
        output_schema=None,
        handoffs=[],
        tracing=ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )


async def tool_call(items: Items | str) -> tuple[str, dict[str, Any]]:
    response = await respond(items)
    assert len(response.output) == 1
    item = response.output[0]
    assert isinstance(item, ResponseFunctionToolCall), f"expected a tool call, got {item!r}"
    return item.name, json.loads(item.arguments)


async def reply(items: Items | str) -> str:
    response = await respond(items)
    assert len(response.output) == 1
    item = response.output[0]
    assert isinstance(item, ResponseOutputMessage), f"expected a reply, got {item!r}"
    assert item.role == "assistant" and item.status == "completed"
    return "".join(part.text for part in item.content if part.type == "output_text")


# --------------------------------------------------------------------------- #
# the SDK interface
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("method", ["get_response", "stream_response"])
def test_signature_matches_sdk_abstract_method(method: str) -> None:
    sdk = inspect.signature(getattr(Model, method)).parameters
    ours = inspect.signature(getattr(OfflineModel, method)).parameters
    ours_without_kwargs = [(p.name, p.kind) for p in ours.values() if p.kind is not p.VAR_KEYWORD]
    assert ours_without_kwargs == [(p.name, p.kind) for p in sdk.values()]
    assert not inspect.isabstract(OfflineModel)


async def test_tool_call_carries_call_id_name_and_json_arguments() -> None:
    response = await respond([user("Add task: Buy groceries")])
    item = response.output[0]
    assert isinstance(item, ResponseFunctionToolCall)
    assert item.call_id.startswith("call_") and len(item.call_id) > 10
    assert item.name == "add_task"
    assert json.loads(item.arguments) == {"title": "Buy groceries"}
    assert response.response_id is None


async def test_same_input_gives_same_output() -> None:
    items = [user("hi"), assistant(HELP_TEXT), user("add buy milk")]
    first, second = await respond(items), await respond(items)
    assert first.output[0].model_dump() == second.output[0].model_dump()


async def test_same_request_in_a_later_turn_gets_a_new_call_id() -> None:
    first = (await respond([user("add buy milk")])).output[0]
    later_items = [
        user("add buy milk"),
        call(first.call_id, "add_task", title="buy milk"),
        output(first.call_id, {"task_id": 1, "status": "created", "title": "buy milk", "description": None}),
        assistant("I've added task 1: buy milk."),
        user("add buy milk"),
    ]
    later = (await respond(later_items)).output[0]
    assert isinstance(first, ResponseFunctionToolCall) and isinstance(later, ResponseFunctionToolCall)
    assert later.call_id != first.call_id


async def test_string_input_is_read_as_the_user_message() -> None:
    assert await tool_call("show my tasks") == ("list_tasks", {"status": "all"})


async def test_pydantic_input_items_are_normalised() -> None:
    history = [
        {"role": "user", "content": [{"type": "input_text", "text": "add call mom"}]},
        ResponseFunctionToolCall(
            type="function_call", call_id="c1", name="add_task", arguments='{"title": "call mom"}'
        ),
        output("c1", {"task_id": 4, "status": "created", "title": "call mom", "description": None}),
        ResponseOutputMessage(
            id="m1",
            type="message",
            role="assistant",
            status="completed",
            content=[{"type": "output_text", "text": "I've added task 4: call mom.", "annotations": []}],
        ),
        user("mark it done"),
    ]
    assert await tool_call(history) == ("complete_task", {"task_id": 4})


# --------------------------------------------------------------------------- #
# phrasings -> the first tool call
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("message", "title"),
    [
        ("Add task: Buy groceries", "Buy groceries"),
        ("add buy milk", "buy milk"),
        ("add a task to buy milk", "buy milk"),
        ("remind me to call mom", "call mom"),
        ("create task Book Dentist", "Book Dentist"),
        ("new task: Water the plants.", "Water the plants"),
        ("Please add Pay Rent to my list!", "Pay Rent"),
    ],
)
async def test_add_phrasing_calls_add_task_with_clean_title(message: str, title: str) -> None:
    assert await tool_call([user(message)]) == ("add_task", {"title": title})


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("what's on my list?", "all"),
        ("show my tasks", "all"),
        ("list tasks", "all"),
        ("Can you list my tasks, please?", "all"),
        ("what's left?", "pending"),
        ("show pending tasks", "pending"),
        ("show completed tasks", "completed"),
        ("what have I done?", "completed"),
    ],
)
async def test_list_phrasing_calls_list_tasks_with_status(message: str, status: str) -> None:
    assert await tool_call([user(message)]) == ("list_tasks", {"status": status})


@pytest.mark.parametrize(
    "message", ["mark task 2 as done", "complete task 2", "task 2 is done", "finish task 2", "Complete task #2."]
)
async def test_complete_by_number_calls_complete_task(message: str) -> None:
    assert await tool_call([user(message)]) == ("complete_task", {"task_id": 2})


@pytest.mark.parametrize("message", ["delete task 3", "remove task 3", "please delete task 3!"])
async def test_delete_by_number_calls_delete_task(message: str) -> None:
    assert await tool_call([user(message)]) == ("delete_task", {"task_id": 3})


@pytest.mark.parametrize(
    "message", ["rename task 1 to Buy oat milk", "change task 1 to Buy oat milk", "update task 1 title to Buy oat milk"]
)
async def test_rename_by_number_calls_update_task_with_title(message: str) -> None:
    assert await tool_call([user(message)]) == ("update_task", {"task_id": 1, "title": "Buy oat milk"})


async def test_update_description_calls_update_task_with_description() -> None:
    assert await tool_call([user("update task 2 description to 2% milk")]) == (
        "update_task",
        {"task_id": 2, "description": "2% milk"},
    )


@pytest.mark.parametrize("message", ["hi", "Hello!", "what's up?", "thanks"])
async def test_greeting_or_unknown_gets_help_reply_without_tool_call(message: str) -> None:
    text = await reply([user(message)])
    assert text == HELP_TEXT
    assert "Add task: Buy groceries" in text


async def test_add_without_title_asks_for_one() -> None:
    assert "What should the task say?" in await reply([user("add task")])


async def test_only_the_last_user_message_is_the_request() -> None:
    items = [user("delete task 3"), assistant("Deleted task 3: Call mom."), user("what's left?")]
    assert await tool_call(items) == ("list_tasks", {"status": "pending"})


def test_parse_intent_keeps_title_capitalisation() -> None:
    assert parse_intent("add task: Call Mom about the BBQ").title == "Call Mom about the BBQ"


# --------------------------------------------------------------------------- #
# "it": the last task mentioned in the conversation
# --------------------------------------------------------------------------- #


async def test_complete_it_uses_task_from_last_add_result() -> None:
    history = [
        user("add buy milk"),
        call("c1", "add_task", title="buy milk"),
        mcp_output("c1", {"task_id": 7, "status": "created", "title": "buy milk", "description": None}),
        assistant("I've added task 7: buy milk."),
        user("mark it done"),
    ]
    assert await tool_call(history) == ("complete_task", {"task_id": 7})


async def test_delete_it_skips_multi_task_lists_for_the_last_single_task() -> None:
    history = [
        user("add call mom"),
        call("c1", "add_task", title="call mom"),
        output("c1", {"task_id": 3, "status": "created", "title": "call mom", "description": None}),
        assistant("I've added task 3: call mom."),
        user("show my tasks"),
        call("c2", "list_tasks", status="all"),
        output("c2", listing(task(1, "Buy groceries"), task(3, "call mom"))),
        assistant("You have 2 tasks: ..."),
        user("remove it"),
    ]
    assert await tool_call(history) == ("delete_task", {"task_id": 3})


async def test_it_uses_a_list_result_with_exactly_one_task() -> None:
    history = [
        user("what's left?"),
        call("c1", "list_tasks", status="pending"),
        output("c1", listing(task(5, "Pay rent"), status="pending")),
        assistant("You have 1 pending task:\n- [ ] 5. Pay rent"),
        user("done with it"),
    ]
    assert await tool_call(history) == ("complete_task", {"task_id": 5})


async def test_it_ignores_failed_calls() -> None:
    history = [
        user("add buy milk"),
        call("c1", "add_task", title="buy milk"),
        output("c1", {"task_id": 2, "status": "created", "title": "buy milk", "description": None}),
        user("complete task 9"),
        call("c2", "complete_task", task_id=9),
        output("c2", {"task_id": 9, "status": "error", "error": "not_found", "message": "Task 9 not found."}),
        assistant("I couldn't find task 9."),
        user("complete it"),
    ]
    assert await tool_call(history) == ("complete_task", {"task_id": 2})


async def test_rename_it_uses_last_mentioned_task() -> None:
    history = [
        user("complete task 4"),
        call("c1", "complete_task", task_id=4),
        output("c1", {"task_id": 4, "status": "completed", "title": "Call mom"}),
        assistant("Marked task 4 as done: Call mom."),
        user("rename it to Call mom back"),
    ]
    assert await tool_call(history) == ("update_task", {"task_id": 4, "title": "Call mom back"})


async def test_it_falls_back_to_task_number_in_message_text() -> None:
    history = [user("add buy milk"), assistant("I've added task 12: buy milk."), user("delete it")]
    assert await tool_call(history) == ("delete_task", {"task_id": 12})


async def test_it_without_a_mentioned_task_asks_which_task() -> None:
    text = await reply([user("hi"), assistant(HELP_TEXT), user("complete it")])
    assert text.startswith("Which task do you mean?")


# --------------------------------------------------------------------------- #
# a task named by title: list first, then act on the best match
# --------------------------------------------------------------------------- #


def title_lookup_turn(message: str, tasks: dict[str, Any]) -> Items:
    return [
        user(message),
        call("lookup", "list_tasks", status="all"),
        mcp_output("lookup", tasks),
    ]


async def test_complete_by_title_first_lists_all_tasks() -> None:
    assert await tool_call([user("complete buy milk")]) == ("list_tasks", {"status": "all"})


async def test_complete_by_title_calls_complete_task_on_exact_match() -> None:
    tasks = listing(task(1, "Buy milk and eggs"), task(2, "Buy Milk"), task(3, "Call mom"))
    assert await tool_call(title_lookup_turn("mark buy milk as done", tasks)) == (
        "complete_task",
        {"task_id": 2},
    )


async def test_title_match_falls_back_to_substring() -> None:
    tasks = listing(task(1, "Call mom"), task(2, "Buy milk at the corner shop"))
    assert await tool_call(title_lookup_turn("complete buy milk", tasks)) == ("complete_task", {"task_id": 2})


async def test_delete_by_title_calls_delete_task_on_match() -> None:
    tasks = listing(task(1, "Call mom"), task(3, "Buy milk"))
    assert await tool_call(title_lookup_turn("delete call mom", tasks)) == ("delete_task", {"task_id": 1})


async def test_rename_by_title_calls_update_task_on_match() -> None:
    tasks = listing(task(6, "Buy milk"))
    assert await tool_call(title_lookup_turn("rename buy milk to Buy oat milk", tasks)) == (
        "update_task",
        {"task_id": 6, "title": "Buy oat milk"},
    )


async def test_title_without_match_replies_that_no_task_matches() -> None:
    tasks = listing(task(1, "Call mom"))
    text = await reply(title_lookup_turn("complete buy milk", tasks))
    assert text == 'I couldn\'t find a task matching "buy milk".'


async def test_title_lookup_replies_from_the_action_result() -> None:
    items = title_lookup_turn("complete buy milk", listing(task(2, "Buy milk"))) + [
        call("act", "complete_task", task_id=2),
        mcp_output("act", {"task_id": 2, "status": "completed", "title": "Buy milk"}),
    ]
    assert await reply(items) == "Marked task 2 as done: Buy milk."


# --------------------------------------------------------------------------- #
# replies written from tool results
# --------------------------------------------------------------------------- #


def finished_turn(message: str, name: str, arguments: dict[str, Any], result: Any) -> Items:
    return [user(message), call("c1", name, **arguments), output("c1", result)]


@pytest.mark.parametrize(
    ("message", "name", "arguments", "result", "expected"),
    [
        (
            "Add task: Buy groceries",
            "add_task",
            {"title": "Buy groceries"},
            {"task_id": 1, "status": "created", "title": "Buy groceries", "description": None},
            "I've added task 1: Buy groceries.",
        ),
        (
            "complete task 2",
            "complete_task",
            {"task_id": 2},
            {"task_id": 2, "status": "completed", "title": "Buy milk"},
            "Marked task 2 as done: Buy milk.",
        ),
        (
            "delete task 3",
            "delete_task",
            {"task_id": 3},
            {"task_id": 3, "status": "deleted", "title": "Call mom"},
            "Deleted task 3: Call mom.",
        ),
        (
            "rename task 1 to X",
            "update_task",
            {"task_id": 1, "title": "X"},
            {"task_id": 1, "status": "updated", "title": "X", "description": None},
            "Renamed task 1 to X.",
        ),
    ],
    ids=["created", "completed", "deleted", "updated"],
)
async def test_reply_confirms_single_task_result(
    message: str, name: str, arguments: dict[str, Any], result: dict[str, Any], expected: str
) -> None:
    assert await reply(finished_turn(message, name, arguments, result)) == expected


async def test_list_reply_is_a_markdown_checklist() -> None:
    result = listing(task(1, "Buy groceries"), task(3, "Call mom", completed=True), status="pending")
    text = await reply(finished_turn("what's left?", "list_tasks", {"status": "pending"}, result))
    assert text == "You have 2 pending tasks:\n- [ ] 1. Buy groceries\n- [x] 3. Call mom"


async def test_list_reply_with_one_task_is_singular() -> None:
    result = listing(task(1, "Buy groceries"), status="pending")
    text = await reply(finished_turn("what's left?", "list_tasks", {"status": "pending"}, result))
    assert text.startswith("You have 1 pending task:\n")


@pytest.mark.parametrize(
    ("status", "expected"),
    [("pending", "You have no pending tasks."), ("completed", "You have no completed tasks."), ("all", "Your list is empty.")],
)
async def test_empty_list_reply(status: str, expected: str) -> None:
    result = listing(status=status)
    assert await reply(finished_turn("list tasks", "list_tasks", {"status": status}, result)) == expected


async def test_not_found_result_replies_could_not_find_task() -> None:
    result = {"task_id": 9, "status": "error", "error": "not_found", "message": "Task 9 not found."}
    assert await reply(finished_turn("delete task 9", "delete_task", {"task_id": 9}, result)) == (
        "I couldn't find task 9."
    )


async def test_non_json_tool_error_replies_sorry_with_the_text() -> None:
    error = "An error occurred while running the tool. Please try again. Error: boom"
    assert await reply(finished_turn("delete task 9", "delete_task", {"task_id": 9}, error)) == (
        f"Sorry, that didn't work: {error}"
    )


@pytest.mark.parametrize("status", sorted(CONFIRMATIONS))
def test_every_confirmation_names_its_task_for_a_later_it(status: str) -> None:
    text = CONFIRMATIONS[status].format(task_id=42, title="Task 7: call 3 people")
    assert confirmed_task_id(text) == 42


@pytest.mark.parametrize("text", [HELP_TEXT, "I couldn't find task 5.", "Which task do you mean? Tell me its number."])
def test_help_and_questions_name_no_task(text: str) -> None:
    assert confirmed_task_id(text) is None


async def test_it_after_a_saved_rename_confirmation_means_the_renamed_task() -> None:
    history = [user("rename task 5 to oat milk"), assistant("Renamed task 5 to oat milk."), user("delete it")]
    assert await tool_call(history) == ("delete_task", {"task_id": 5})


# --------------------------------------------------------------------------- #
# streaming events
# --------------------------------------------------------------------------- #


async def stream(items: Items, delay_ms: int = 1, word_by_word: bool | None = None) -> list[Any]:
    return [
        event
        async for event in OfflineModel(stream_delay_ms=delay_ms, word_by_word=word_by_word).stream_response(
            system_instructions=None,
            input=items,
            model_settings=ModelSettings(),
            tools=[],
            output_schema=None,
            handoffs=[],
            tracing=ModelTracing.DISABLED,
            previous_response_id=None,
            conversation_id=None,
            prompt=None,
        )
    ]


async def test_streamed_text_step_sends_deltas_then_completed_response() -> None:
    events = await stream([user("hello")])
    assert [event.type for event in events[:5]] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert [event.type for event in events[-4:]] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in events if isinstance(event, ResponseTextDeltaEvent)]
    assert len(deltas) > 3 and "".join(deltas) == HELP_TEXT
    assert [event.sequence_number for event in events] == list(range(len(events)))
    completed = events[-1]
    assert isinstance(completed, ResponseCompletedEvent)
    assert completed.response.output[0].content[0].text == HELP_TEXT


async def test_unpaced_the_reply_streams_as_one_delta() -> None:
    events = await stream([user("hello")], delay_ms=0)
    deltas = [event.delta for event in events if isinstance(event, ResponseTextDeltaEvent)]
    assert deltas == [HELP_TEXT]
    assert [event.sequence_number for event in events] == list(range(len(events)))


async def test_streamed_tool_step_completes_with_the_function_call() -> None:
    events = await stream([user("add buy milk")])
    assert isinstance(events[0], ResponseCreatedEvent)
    completed = events[-1]
    assert isinstance(completed, ResponseCompletedEvent)
    (item,) = completed.response.output
    assert isinstance(item, ResponseFunctionToolCall)
    assert (item.name, json.loads(item.arguments)) == ("add_task", {"title": "buy milk"})
    assert "response.function_call_arguments.delta" in [event.type for event in events]


# --------------------------------------------------------------------------- #
# the SDK runner end to end (a function tool stands in for the MCP tool)
# --------------------------------------------------------------------------- #

PENDING = listing(task(1, "Buy groceries"), task(3, "Call mom"), status="pending")


# Like the MCP tools, these answer JSON (a returned dict would reach the model as its Python repr).
@function_tool
async def list_tasks(status: str = "all") -> str:
    """List the user's tasks."""
    return json.dumps({**PENDING, "filter": status})


@function_tool
async def complete_task(task_id: int) -> str:
    """Mark a task as done."""
    title = {1: "Buy groceries", 3: "Call mom"}[task_id]
    return json.dumps({"task_id": task_id, "status": "completed", "title": title})


def task_agent(*tools: Any, delay_ms: int = 0) -> Agent:
    return Agent(name="Task assistant", instructions="Manage tasks.", model=OfflineModel(stream_delay_ms=delay_ms),
                 tools=list(tools))


async def test_runner_runs_the_tool_and_replies_with_the_formatted_list() -> None:
    result = await Runner.run(task_agent(list_tasks), input=[user("what's left?")])
    assert result.final_output == "You have 2 pending tasks:\n- [ ] 1. Buy groceries\n- [ ] 3. Call mom"


async def test_runner_completes_a_task_named_by_title_in_two_tool_calls() -> None:
    result = await Runner.run(task_agent(list_tasks, complete_task), input=[user("mark call mom as done")])
    assert result.final_output == "Marked task 3 as done: Call mom."
    called = [item.raw_item.name for item in result.new_items if item.type == "tool_call_item"]
    assert called == ["list_tasks", "complete_task"]


async def test_run_streamed_without_tools_streams_text_deltas_of_the_final_output() -> None:
    streamed = Runner.run_streamed(task_agent(delay_ms=1), input=[user("hi")])
    deltas = [
        event.data.delta
        async for event in streamed.stream_events()
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent)
    ]
    assert len(deltas) > 1
    assert "".join(deltas) == streamed.final_output == HELP_TEXT


async def test_run_streamed_with_a_tool_streams_the_reply_after_the_tool_runs() -> None:
    streamed = Runner.run_streamed(task_agent(list_tasks), input=[user("what's left?")])
    kinds = [event.type async for event in streamed.stream_events()]
    assert "run_item_stream_event" in kinds
    assert streamed.final_output.startswith("You have 2 pending tasks:")


def test_a_title_typed_over_two_lines_is_one_title() -> None:
    intent = parse_intent("Add task: Pack bags\nand passports")
    assert intent.action == "add" and intent.title == "Pack bags and passports"


def test_stream_delay_setting_reaches_the_offline_model() -> None:
    from chatapp.agent.models import select_model
    from chatapp.config import Settings

    model = select_model(Settings(offline_stream_delay_ms=30))
    assert isinstance(model, OfflineModel) and model.stream_delay == 0.03


async def test_unpaced_word_by_word_streams_a_delta_per_word_at_once() -> None:
    events = await stream([user("hello")], delay_ms=0, word_by_word=True)
    deltas = [event.delta for event in events if isinstance(event, ResponseTextDeltaEvent)]
    assert len(deltas) > 3 and "".join(deltas) == HELP_TEXT
