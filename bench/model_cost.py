"""CPU per streamed model call on the OpenAI-compatible path.

A real model's tokens cost CPU in the worker that streams them: reading the
socket, decoding each server-sent event, turning it into the Responses events
the Agents SDK runs on. This measures that cost for one model call, stock
against chatapp's own model:

  stock   the SDK's `OpenAIChatCompletionsModel.stream_response`
  fast    chatapp's `ChatCompletionsModel.stream_response` on the client's
          default (httpx) transport
  worker  the same model on the client a worker really uses
          (chatapp/agent/provider_http.py: aiohttp, the body read at most
          once per STREAM_READ_INTERVAL_MS, 100 ms by default)

against a chat-completions server in a child process on 127.0.0.1 (so its CPU
is not counted), which streams N tokens as `chat.completion.chunk` events.
`burst`: every token written as soon as possible (one write per event, so
the reads see whatever piled up, like a fast local model under load).
`paced`: the server sleeps between tokens, so every token arrives in a read
of its own, the worst case for coalescing (a slow model on an idle worker).

CPU (`time.process_time`, the whole client process) per call at 40 and at
400 tokens, and the slope per further token. Prints a table, writes
bench/results/model_cost.json.

    .venv/bin/python bench/model_cost.py [--calls 60] [--pace-ms 1]
    .venv/bin/python bench/model_cost.py --pace-ms 20 --calls 15 --repeats 1 \
        --results bench/results/model_cost_20ms.json   # a model's realistic pace
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"

RESULTS = ROOT / "bench" / "results" / "model_cost.json"
SHORT, LONG = 40, 400
SERVER_LIFETIME_SECONDS = 900  # the child server stops by itself even if this process dies


# --------------------------------------------------------------------------- #
# The streaming server (child process)
# --------------------------------------------------------------------------- #


def chunk_event(base: bytes, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    payload = base + json.dumps([choice]).encode() + b"}"
    return b"data: " + payload + b"\n\n"


def stream_body(model: str, tokens: int, include_usage: bool) -> list[bytes]:
    """The SSE events of one streamed reply of `tokens` tokens, each an HTTP chunk."""
    created = int(time.time())
    base = (
        f'{{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":{created},'
        f'"model":"{model}","system_fingerprint":null,"choices":'
    ).encode()
    events = [chunk_event(base, {"role": "assistant", "content": ""})]
    events += [chunk_event(base, {"content": f" word{index}"}) for index in range(tokens)]
    events.append(chunk_event(base, {}, "stop"))
    if include_usage:
        usage = {"prompt_tokens": 20, "completion_tokens": tokens, "total_tokens": 20 + tokens}
        events.append(b"data: " + base[:-len(b'"choices":')] + b'"choices":[],"usage":'
                      + json.dumps(usage).encode() + b"}\n\n")
    events.append(b"data: [DONE]\n\n")
    return [f"{len(event):x}\r\n".encode() + event + b"\r\n" for event in events] + [b"0\r\n\r\n"]


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pace: float) -> None:
    """HTTP/1.1 keep-alive: one chat completion after another on a connection.
    The model name says how long the reply is: "bench-400" streams 400 tokens."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = dict(
                line.split(":", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ":" in line
            )
            length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
            body = json.loads(await reader.readexactly(length)) if length else {}
            model = str(body.get("model", "bench-40"))
            tokens = int(model.rsplit("-", 1)[-1])
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for piece in stream_body(model, tokens, usage):
                writer.write(piece)
                if pace:
                    await writer.drain()
                    await asyncio.sleep(pace)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass  # the client went away, or this server is stopping
    finally:
        writer.close()


async def serve(pace: float) -> None:
    server = await asyncio.start_server(lambda r, w: handle(r, w, pace), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: stdin_closed.done() or stdin_closed.set_result(None))
    async with server:
        await asyncio.wait_for(stdin_closed, SERVER_LIFETIME_SECONDS)


class ChildServer:
    """The server in a child process; it stops when this process closes its stdin."""

    def __init__(self, pace_ms: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--pace-ms", str(pace_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


# --------------------------------------------------------------------------- #
# The client side (this process)
# --------------------------------------------------------------------------- #


def models(base_url: str) -> tuple[dict[str, Any], list[Any]]:
    """The model factories, and the clients to close once measured."""
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    from chatapp.agent.chat_completions import ChatCompletionsModel

    from chatapp.agent.models import openai_client
    from chatapp.config import Settings

    client = AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    worker = openai_client(Settings(openai_base_url=base_url))
    return {
        "stock": lambda tokens: OpenAIChatCompletionsModel(model=f"bench-{tokens}", openai_client=client),
        "fast": lambda tokens: ChatCompletionsModel(model=f"bench-{tokens}", openai_client=client),
        "worker": lambda tokens: ChatCompletionsModel(model=f"bench-{tokens}", openai_client=worker),
    }, [client, worker]


async def one_call(model: Any) -> tuple[str, int]:
    """Stream one reply to the end, as the runner would: every event read."""
    from agents import ModelSettings
    from agents.models.interface import ModelTracing
    from openai.types.responses import ResponseCompletedEvent, ResponseTextDeltaEvent

    events: AsyncIterator[Any] = model.stream_response(
        "You are a helpful assistant.", [{"role": "user", "content": "Tell me something."}], ModelSettings(),
        [], None, [], ModelTracing.DISABLED, previous_response_id=None, conversation_id=None, prompt=None,
    )
    text, deltas, completed = [], 0, None
    async for event in events:
        if isinstance(event, ResponseTextDeltaEvent):
            text.append(event.delta)
            deltas += 1
        elif isinstance(event, ResponseCompletedEvent):
            completed = event.response
    assert completed is not None and completed.output, "no response.completed with output"
    return "".join(text), deltas


async def cpu_per_call(model: Any, calls: int) -> tuple[float, float, float]:
    """(CPU ms per call, wall ms per call, text deltas per call)."""
    await one_call(model)  # warm: connection open, code paths loaded
    deltas = 0
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        _, count = await one_call(model)
        deltas += count
    return (
        (time.process_time() - started_cpu) / calls * 1000,
        (time.perf_counter() - started_wall) / calls * 1000,
        deltas / calls,
    )


async def check_same_text(factories: dict[str, Any]) -> None:
    for tokens in (SHORT, LONG):
        texts = {name: (await one_call(factory(tokens)))[0] for name, factory in factories.items()}
        expected = "".join(f" word{index}" for index in range(tokens))
        assert all(text == expected for text in texts.values()), "a model's streamed text differs"


async def measure(base_url: str, calls: int, repeats: int) -> list[dict[str, Any]]:
    factories, clients = models(base_url)
    await check_same_text(factories)
    samples: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    for _ in range(repeats):  # interleave so machine noise hits every variant alike
        for name, factory in factories.items():
            for tokens in (SHORT, LONG):
                count = calls if tokens == SHORT else max(calls // 4, 5)
                samples.setdefault((name, tokens), []).append(await cpu_per_call(factory(tokens), count))
    for client in clients:
        await client.close()
    rows = []
    for name in factories:
        short = [sample[0] for sample in samples[(name, SHORT)]]
        long = [sample[0] for sample in samples[(name, LONG)]]
        cpu_short, cpu_long = statistics.median(short), statistics.median(long)
        rows.append({
            "model": name,
            "cpu_ms_per_call_40": round(cpu_short, 3),
            "cpu_ms_per_call_400": round(cpu_long, 3),
            "cpu_ms_per_further_token": round((cpu_long - cpu_short) / (LONG - SHORT), 4),
            "wall_ms_per_call_40": round(statistics.median(s[1] for s in samples[(name, SHORT)]), 2),
            "wall_ms_per_call_400": round(statistics.median(s[1] for s in samples[(name, LONG)]), 2),
            "text_deltas_per_call_40": round(statistics.median(s[2] for s in samples[(name, SHORT)]), 1),
            "text_deltas_per_call_400": round(statistics.median(s[2] for s in samples[(name, LONG)]), 1),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=60, help="40-token calls per sample (400-token: a quarter)")
    parser.add_argument("--repeats", type=int, default=3, help="samples per variant; the median is reported")
    parser.add_argument("--pace-ms", type=float, default=1.0, help="server pause between tokens, paced runs")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.pace_ms / 1000))
        return
    from bench.plots import machine_info  # here, not at the top: the child server needs none of it

    machine_at_start = machine_info()
    results = {}
    for stream_mode, pace_ms in (("burst", 0.0), ("paced", args.pace_ms)):
        server = ChildServer(pace_ms)
        try:
            calls = args.calls if not pace_ms else max(args.calls // 3, 5)  # paced calls take wall time
            results[stream_mode] = asyncio.run(measure(server.base_url, calls, args.repeats))
        finally:
            server.stop()
    header = (f"{'stream':<6} {'model':<6} {'CPU ms/call 40':>15} {'CPU ms/call 400':>16} "
              f"{'ms/further token':>17} {'deltas 40/400':>14}")
    print(header)
    print("-" * len(header))
    for stream_mode, rows in results.items():
        for row in rows:
            print(f"{stream_mode:<6} {row['model']:<6} {row['cpu_ms_per_call_40']:>15.2f} "
                  f"{row['cpu_ms_per_call_400']:>16.2f} {row['cpu_ms_per_further_token']:>17.4f} "
                  f"{row['text_deltas_per_call_40']:>6.0f}/{row['text_deltas_per_call_400']:<7.0f}")
    worker = next(row for row in results["paced"] if row["model"] == "worker")
    print(f"the worker's model, paced: {worker['cpu_ms_per_call_40']:.2f} ms per 40-token call (bar 10), "
          f"{worker['cpu_ms_per_further_token']:.4f} ms per further token (bar 0.1)")
    results_path = args.results.resolve()
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps({
        "machine": machine_info(), "machine_at_start": machine_at_start,
        "tokens": [SHORT, LONG], "pace_ms": args.pace_ms, "calls_40": args.calls, "repeats": args.repeats,
        "results": results,
    }, indent=2) + "\n")
    print(f"wrote {results_path}")


if __name__ == "__main__":
    main()
