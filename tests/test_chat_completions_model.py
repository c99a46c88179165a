"""chatapp's Chat Completions model on its own, against the scripted
provider (tests/fake_openai.py): the Responses events and final output the
runner needs, exact text under coalescing, tool calls, usage, and the
official client's errors. The full turn on this model is in
tests/test_model_providers.py."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from aiohttp.client_proto import ResponseHandler
from agents import ModelSettings
from agents.models.interface import ModelTracing
from openai import AsyncOpenAI
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseTextDeltaEvent,
)

from chatapp.agent.chat_completions import ChatCompletionsModel
from chatapp.agent import provider_http
from chatapp.agent.provider_http import PacedResponseStream, ReadPace, provider_http_client
from chatapp.agent.chat_completions_stream import ChunkAssembler, split_events
from tests.support.fake_openai import (
    FakeOpenAI,
    failure,
    hang,
    malformed,
    reply,
    tool_call,
)

INPUT = [{"role": "user", "content": "hi"}]


@pytest.fixture(params=["httpx", "paced aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    """Every behaviour holds on the client's default transport and on the
    one a worker uses (chatapp/agent/provider_http.py)."""
    return request.param


OPEN_CLIENTS: list[AsyncOpenAI] = []


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    yield
    while OPEN_CLIENTS:
        await OPEN_CLIENTS.pop().close()


def model_for(fake: FakeOpenAI, transport: str, **client_options: Any) -> ChatCompletionsModel:
    http_client = provider_http_client(0.05) if transport == "paced aiohttp" else None
    client = AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0, http_client=http_client,
                         **client_options)
    OPEN_CLIENTS.append(client)
    return ChatCompletionsModel(model="fake-model", openai_client=client)


def stream_events(model: ChatCompletionsModel, settings: ModelSettings | None = None) -> AsyncIterator[Any]:
    return model.stream_response(
        "Be brief.", INPUT, settings or ModelSettings(), [], None, [], ModelTracing.DISABLED,
        previous_response_id=None, conversation_id=None, prompt=None,
    )


async def stream(model: ChatCompletionsModel, settings: ModelSettings | None = None) -> list[Any]:
    return [event async for event in stream_events(model, settings)]


def completed(events: list[Any]) -> Response:
    assert isinstance(events[-1], ResponseCompletedEvent)
    return events[-1].response


async def test_streamed_text_arrives_exactly_and_ends_in_response_completed(fake_openai: FakeOpenAI, transport: str) -> None:
    text = "Nothing on your list yet. Want me to add something?"
    fake_openai.script(reply(text, pieces=12))
    events = await stream(model_for(fake_openai, transport))
    assert events[0].type == "response.created"
    deltas = [event.delta for event in events if isinstance(event, ResponseTextDeltaEvent)]
    assert 1 <= len(deltas) <= 12 and all(deltas) and "".join(deltas) == text
    [message] = completed(events).output
    assert isinstance(message, ResponseOutputMessage) and message.content[0].text == text  # type: ignore[union-attr]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    [request] = fake_openai.requests
    assert request.stream and request.messages == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
    ]
    assert request.headers["authorization"] == "Bearer sk-test"


async def test_usage_is_requested_when_asked_and_reported(fake_openai: FakeOpenAI, transport: str) -> None:
    fake_openai.script(reply("Hi."))
    events = await stream(model_for(fake_openai, transport), ModelSettings(include_usage=True))
    usage = completed(events).usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (10, 5, 15)
    assert fake_openai.requests[0].body["stream_options"] == {"include_usage": True}


async def test_streamed_tool_call_is_one_function_call_item(fake_openai: FakeOpenAI, transport: str) -> None:
    fake_openai.script(tool_call("add_task", {"title": "Buy groceries"}, call_id="call_x1"))
    events = await stream(model_for(fake_openai, transport))
    [call] = completed(events).output
    assert isinstance(call, ResponseFunctionToolCall)
    assert (call.call_id, call.name, call.arguments) == ("call_x1", "add_task", '{"title": "Buy groceries"}')
    deltas = [event.delta for event in events if isinstance(event, ResponseFunctionCallArgumentsDeltaEvent)]
    assert "".join(deltas) == call.arguments
    assert [event.type for event in events if "output_item" in event.type] == [
        "response.output_item.added", "response.output_item.done",
    ]


async def test_empty_reply_completes_with_no_output(fake_openai: FakeOpenAI, transport: str) -> None:
    fake_openai.script(reply(""), malformed("no_choices"))
    for _ in range(2):
        assert completed(await stream(model_for(fake_openai, transport))).output == []


async def test_get_response_is_a_plain_request(fake_openai: FakeOpenAI, transport: str) -> None:
    fake_openai.script(reply("Plain."), tool_call("list_tasks", {"status": "all"}, call_id="call_p1"))
    model = model_for(fake_openai, transport)

    async def respond() -> Any:
        return await model.get_response(
            None, INPUT, ModelSettings(), [], None, [], ModelTracing.DISABLED,
            previous_response_id=None, conversation_id=None, prompt=None,
        )

    text = await respond()
    assert text.output[0].content[0].text == "Plain." and text.usage.total_tokens == 15
    call = (await respond()).output[0]
    assert isinstance(call, ResponseFunctionToolCall) and call.call_id == "call_p1"
    assert [request.stream for request in fake_openai.requests] == [False, False]


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, openai.AuthenticationError), (429, openai.RateLimitError), (500, openai.InternalServerError),
     (503, openai.InternalServerError)],
)
async def test_http_errors_are_the_clients_errors(fake_openai: FakeOpenAI, transport: str, status: int, error: type) -> None:
    fake_openai.script(failure(status))
    with pytest.raises(error):
        await stream(model_for(fake_openai, transport))
    assert len(fake_openai.requests) == 1  # not retried


async def test_malformed_chunk_fails_the_call(fake_openai: FakeOpenAI, transport: str) -> None:
    fake_openai.script(malformed("invalid_json"))
    with pytest.raises(ValueError):
        await stream(model_for(fake_openai, transport))


async def test_a_hanging_provider_times_out_with_the_clients_error(fake_openai: FakeOpenAI, transport: str) -> None:
    fake_openai.script(hang())
    with pytest.raises(openai.APITimeoutError):
        await stream(model_for(fake_openai, transport, timeout=0.3))


def test_events_are_split_on_any_line_end_with_comments_and_fields_skipped() -> None:
    payloads, rest = split_events(b'data: {"a":1}\n\n: keep-alive\n\nevent: x\nid: 3\ndata: [1,\ndata: 2]\n\ndata: {"b"')
    assert payloads == [b'{"a":1}', b"[1,\n2]"] and rest == b'data: {"b"'


def test_deltas_of_one_batch_become_one_event() -> None:
    response = Response(
        id="r", created_at=0, model="m", object="response", output=[], tool_choice="auto", tools=[],
        parallel_tool_calls=False,
    )
    assembler = ChunkAssembler(response, model="m", require_finish_reason=False)
    chunk = lambda delta, finish=None: {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # noqa: E731
    events = assembler.feed([chunk({"role": "assistant", "content": ""})] + [chunk({"content": f"w{i} "}) for i in range(10)])
    events += assembler.flush()
    events += assembler.feed([chunk({"content": "end"}), chunk({}, "stop")])
    events += assembler.finish()
    deltas = [event.delta for event in events if isinstance(event, ResponseTextDeltaEvent)]
    assert deltas == ["".join(f"w{i} " for i in range(10)), "end"]
    assert completed(events).output[0].content[0].text == deltas[0] + "end"  # type: ignore[union-attr]


async def test_a_provider_that_refuses_connections_is_the_clients_connection_error(transport: str) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", max_retries=0,
                         http_client=provider_http_client(0.05) if transport == "paced aiohttp" else None)
    OPEN_CLIENTS.append(client)
    with pytest.raises(openai.APIConnectionError):
        await stream(ChatCompletionsModel(model="fake-model", openai_client=client))


async def test_the_paced_transport_hands_over_a_burst_of_tokens_as_one_piece(fake_openai: FakeOpenAI) -> None:
    # Twelve deltas a few milliseconds apart; reads at most once a second:
    # the first read is not held, the rest wait for the second.
    text = "one two three four five six seven eight nine ten eleven twelve"
    fake_openai.script(reply(text, pieces=12))
    client = AsyncOpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0,
                         http_client=provider_http_client(1.0))
    OPEN_CLIENTS.append(client)
    events = await stream(ChatCompletionsModel(model="fake-model", openai_client=client))
    deltas = [event.delta for event in events if isinstance(event, ResponseTextDeltaEvent)]
    assert "".join(deltas) == text and len(deltas) <= 2


async def test_the_workers_client_goes_through_a_proxy_named_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    request_lines: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_lines.append(await reader.readline())
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = AsyncOpenAI(base_url="http://provider.invalid/v1", api_key="sk-test", max_retries=0,
                         http_client=provider_http_client(0.05))
    try:
        with pytest.raises(openai.APIError):
            await stream(ChatCompletionsModel(model="fake-model", openai_client=client))
    finally:
        await client.close()
        server.close()
    assert request_lines == [b"POST http://provider.invalid/v1/chat/completions HTTP/1.1\r\n"]


# ---- the worker's transport: a fast stream's socket rests between reads ------------

def chunk_event(payload: dict[str, Any]) -> bytes:
    event = b"data: " + json.dumps(payload).encode() + b"\n\n"
    return f"{len(event):x}\r\n".encode() + event + b"\r\n"


def text_chunk(content: str, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content else {}
    return {"id": "chatcmpl-paced", "object": "chat.completion.chunk", "created": 0, "model": "fake-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class PacedProvider:
    """A chat-completions stream of `words`, `gap` seconds apart (or the
    gap after each word), then the
    end; or, with `then="stall"` or `"drop"`, a provider that stops writing
    or cuts the connection after them."""

    def __init__(self, words: list[str], gap: float | list[float], then: str = "end") -> None:
        self.words, self.then = words, then
        self.gaps = gap if isinstance(gap, list) else [gap] * len(words)
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            for word, gap in zip(self.words, self.gaps, strict=True):
                writer.write(chunk_event(text_chunk(word)))
                await writer.drain()
                await asyncio.sleep(gap)
            if self.then == "stall":
                await asyncio.sleep(30)
            elif self.then == "end":
                writer.write(chunk_event(text_chunk("", "stop")))
                event = b"data: [DONE]\n\n"
                writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError, asyncio.IncompleteReadError):
            pass
        finally:
            if self.then == "drop":
                writer.transport.abort()
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def worker_model(base_url: str, interval: float, reads_per_second: float = 0,
                 **client_options: Any) -> ChatCompletionsModel:
    client = AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0,
                         http_client=provider_http_client(interval, reads_per_second), **client_options)
    OPEN_CLIENTS.append(client)
    return ChatCompletionsModel(model="fake-model", openai_client=client)


def pace_of(client: AsyncOpenAI) -> ReadPace:
    """The read pace of a client on the paced transport."""
    return client._client._transport.pace  # type: ignore[attr-defined]


@pytest.fixture
def socket_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every read aiohttp took from a response's socket."""
    reads: list[int] = []
    received = ResponseHandler.data_received

    def counted(self: ResponseHandler, data: bytes) -> None:
        if data:
            reads.append(len(data))
        received(self, data)

    monkeypatch.setattr(ResponseHandler, "data_received", counted)
    return reads


@pytest.fixture
def holds(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For every wait between two reads: whether the socket was paused."""
    paused: list[bool] = []
    hold = PacedResponseStream._hold

    async def recorded(seconds: float, transport: asyncio.Transport | None) -> None:
        paused.append(transport is not None)
        await hold(seconds, transport)

    monkeypatch.setattr(PacedResponseStream, "_hold", staticmethod(recorded))
    return paused


async def test_a_stream_faster_than_the_read_interval_is_taken_from_the_socket_once_a_read(
    socket_reads: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    words = [f" word{index}" for index in range(100)]

    async def socket_reads_for_one_reply() -> int:
        socket_reads.clear()
        async with PacedProvider(words, gap=0.005) as base_url:  # 100 events over 0.5 s
            events = await stream(worker_model(base_url, interval=0.1))
        assert completed(events).output[0].content[0].text == "".join(words)  # type: ignore[union-attr]
        return len(socket_reads)

    resting = await socket_reads_for_one_reply()
    monkeypatch.setattr(provider_http, "BUSY_EVENTS", 10**9)  # never pause: a read per arrival
    reading = await socket_reads_for_one_reply()
    # Only the first wait, before the pace is known, reads events as they come.
    assert resting * 2 <= reading


async def test_a_stream_slower_than_the_read_interval_keeps_its_socket_reading(holds: list[bool]) -> None:
    words = [f" word{index}" for index in range(5)]
    async with PacedProvider(words, gap=0.15) as base_url:  # an event every 0.15 s, reads every 0.05 s
        events = await stream(worker_model(base_url, interval=0.05))
    assert completed(events).output[0].content[0].text == "".join(words)  # type: ignore[union-attr]
    assert not any(holds)


async def test_a_stream_slower_than_the_read_interval_is_read_as_it_arrives(holds: list[bool]) -> None:
    words = [f" word{index}" for index in range(8)]
    async with PacedProvider(words, gap=0.15) as base_url:  # an event every 0.15 s, reads every 0.05 s
        events = await stream(worker_model(base_url, interval=0.05))
    assert completed(events).output[0].content[0].text == "".join(words)  # type: ignore[union-attr]
    # At most the second read waits, until the pace is known (a stall of the
    # test machine may shorten one gap and add a second); held, every read would.
    assert len(holds) <= 2


async def test_a_slow_stream_that_speeds_up_is_held_again(holds: list[bool]) -> None:
    words = [f" word{index}" for index in range(44)]
    gaps = [0.15] * 4 + [0.002] * 40  # four slow events, then forty at once
    async with PacedProvider(words, gap=gaps) as base_url:
        events = await stream(worker_model(base_url, interval=0.05))
    assert completed(events).output[0].content[0].text == "".join(words)  # type: ignore[union-attr]
    assert len(holds) >= 2 and any(holds)  # held, and paused, once the events came faster than the reads


async def test_a_provider_that_stalls_after_a_fast_start_still_times_out(holds: list[bool]) -> None:
    async with PacedProvider([f" w{index}" for index in range(40)], gap=0.002, then="stall") as base_url:
        with pytest.raises(openai.APITimeoutError):
            await stream(worker_model(base_url, interval=0.05, timeout=0.5))
    assert any(holds)  # the socket was paused during the fast start


async def test_a_connection_cut_after_a_fast_start_is_the_clients_connection_error(holds: list[bool]) -> None:
    async with PacedProvider([f" w{index}" for index in range(40)], gap=0.002, then="drop") as base_url:
        with pytest.raises(openai.APIConnectionError):
            await stream(worker_model(base_url, interval=0.05))
    assert any(holds)


def test_the_read_interval_stays_at_its_base_while_the_reads_fit_the_budget() -> None:
    pace = ReadPace(0.1, reads_per_second=1000)
    pace.open = 100  # 100 streams read every 0.1 s: 1,000 reads a second
    assert pace.interval == 0.1


def test_the_read_interval_stretches_with_the_streams_open_past_the_budget() -> None:
    pace = ReadPace(0.1, reads_per_second=1000)
    pace.open = 300
    assert pace.interval == pytest.approx(0.3)


def test_a_stretched_read_interval_stops_at_a_second() -> None:
    pace = ReadPace(0.1, reads_per_second=1000)
    pace.open = 5000
    assert pace.interval == provider_http.LONGEST_STRETCH == 1.0


def test_no_read_budget_keeps_the_interval_at_its_base() -> None:
    pace = ReadPace(0.1, reads_per_second=0)
    pace.open = 5000
    assert pace.interval == 0.1


async def test_a_stream_counts_as_open_while_it_is_read_and_not_after() -> None:
    seen: list[int] = []
    async with PacedProvider([f" w{index}" for index in range(3)], gap=0.05) as base_url:
        model = worker_model(base_url, 0.05, reads_per_second=1000)
        pace = pace_of(OPEN_CLIENTS[-1])
        async for _ in stream_events(model):
            seen.append(pace.open)
    assert set(seen) == {1}
    assert pace.open == 0


async def test_a_stream_left_after_its_first_event_no_longer_counts_as_open() -> None:
    async with PacedProvider([f" w{index}" for index in range(40)], gap=0.05) as base_url:
        model = worker_model(base_url, 0.05, reads_per_second=1000)
        pace = pace_of(OPEN_CLIENTS[-1])
        events = stream_events(model)
        async for _ in events:
            assert pace.open == 1
            break
        await events.aclose()  # type: ignore[attr-defined]
    assert pace.open == 0


async def test_a_slow_stream_on_a_worker_past_its_read_budget_is_read_in_pieces_of_several_tokens() -> None:
    words = [f" word{index}" for index in range(20)]

    async def text_deltas(reads_per_second: float) -> int:
        async with PacedProvider(words, gap=0.05) as base_url:  # an event every 0.05 s, for 1 s
            events = await stream(worker_model(base_url, 0.05, reads_per_second))
        assert completed(events).output[0].content[0].text == "".join(words)  # type: ignore[union-attr]
        return sum(isinstance(event, ResponseTextDeltaEvent) for event in events)

    as_it_arrives = await text_deltas(0)
    stretched = await text_deltas(4)  # one stream at 4 reads a second: 0.25 s
    assert stretched * 2 <= as_it_arrives


def test_a_stream_read_without_pacing_is_never_stretched() -> None:
    pace = ReadPace(0, reads_per_second=500)
    pace.open = 5000
    assert pace.interval == 0


def test_the_read_interval_stretches_only_once_the_budget_would_double_it() -> None:
    pace = ReadPace(0.1, reads_per_second=500)
    pace.open = 60  # 0.12 s a read would gather about one token more than 0.1 s
    assert pace.interval == 0.1
    pace.open = 100
    assert pace.interval == pytest.approx(0.2)


async def test_a_stream_on_a_worker_past_its_read_budget_rests_its_socket_between_reads(holds: list[bool]) -> None:
    words = [f" word{index}" for index in range(12)]
    async with PacedProvider(words, gap=0.05) as base_url:  # slower than the base interval: read as it comes
        events = await stream(worker_model(base_url, 0.05, reads_per_second=4))
    assert completed(events).output[0].content[0].text == "".join(words)  # type: ignore[union-attr]
    assert holds and all(holds)


def test_the_workers_client_reads_on_its_share_of_the_configured_budget() -> None:
    from chatapp.agent.models import openai_client
    from chatapp.config import Settings

    client = openai_client(Settings(openai_base_url="http://127.0.0.1:9/v1", stream_read_interval_ms=80,
                                    stream_reads_per_second=321, workers=3))
    assert client is not None
    OPEN_CLIENTS.append(client)
    pace = pace_of(client)
    assert (pace.base, pace.reads_per_second) == (0.08, 107)
