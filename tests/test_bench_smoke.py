"""The benchmark's moving parts, checked cheaply: the peer design really
stores its turns in the SDK's SQLAlchemySession and its round trips are
counted, the capacity benchmark's slow model streams a faithful
chat-completions reply, and the capacity client reads what a streamed turn
answers. (The benchmarks themselves are too long for the suite; no figure
is asserted.)"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
from openai import AsyncOpenAI

from bench.capacity import dechunk, done_event
from bench.peer import PeerUser, WireCounter, async_engine, create_tables, seed
from bench.slow_model import expected_reply
from chatapp.config import Settings

from tests.support.paths import ROOT
from tests.support.ports import free_port, wait_for_port


async def test_peer_turn_appends_to_its_sdk_session_and_counts_round_trips(pg_database_url: str) -> None:
    engine = async_engine(pg_database_url, pool_size=2)
    try:
        await create_tables(engine)
        session_id = await seed(engine, 10)
        counter = WireCounter(engine.sync_engine)
        async with PeerUser(Settings(), uuid.uuid4(), tools=False) as user:
            reply = await user.turn(engine, session_id, "hello there", limit=50)
        items = await SQLAlchemySession(session_id, engine=engine).get_items()
    finally:
        await engine.dispose()
    assert reply
    assert len(items) == 12  # the 10 seeded, the user message and the reply
    assert items[10]["content"] == "hello there"
    assert counter.statements > 0
    assert counter.round_trips > counter.statements  # each transaction adds its BEGIN and COMMIT


async def test_slow_model_streams_the_whole_reply_and_usage_to_the_official_client() -> None:
    port = free_port()
    model = subprocess.Popen([sys.executable, str(ROOT / "bench" / "slow_model.py"), "--port", str(port), "--tokens", "6",
                              "--seconds", "0.3", "--max-seconds", "60"], stdout=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, timeout=20)
        client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        stream = await client.chat.completions.create(
            model="slow-model", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True})
        text, usage, finish = "", None, None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            usage = chunk.usage or usage
        await client.close()
    finally:
        model.terminate()
        model.wait(timeout=10)
    assert text == expected_reply(6) == "tok0 tok1 tok2 tok3 tok4 tok5 "
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == 6


def test_capacity_client_finds_the_done_event_in_a_chunked_stream() -> None:
    done = {"status": "success", "messages": [{"role": "assistant", "status": "complete", "content": "tok0 "}]}
    events = [b"event: user_message\ndata: {}\n\n", b"event: text_delta\ndata: {\"delta\": \"tok0 \"}\n\n",
              b"event: done\ndata: " + json.dumps(done).encode() + b"\n\n"]
    raw = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    assert dechunk(raw) == b"".join(events)
    assert done_event(dechunk(raw)) == done
