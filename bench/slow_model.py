"""A slow streaming OpenAI-compatible Chat Completions server, for the
capacity benchmark: every call streams TOKENS tokens over SECONDS seconds.

Written on bare asyncio streams so that it is never the bottleneck: one
ticker wakes every SECONDS/TOKENS and writes each open stream's next chunk
(precomputed bytes, one write per stream), HTTP/1.1 keep-alive, chunked
transfer encoding. It runs in a process of its own, on 127.0.0.1 only, and
prints its CPU seconds when it gets SIGTERM (or after --max-seconds).

    python bench/slow_model.py --port 8123 --tokens 200 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

MODEL = "slow-model"


def token_text(index: int) -> str:
    return f"tok{index} "


def expected_reply(tokens: int) -> str:
    """The exact text every call streams, so a stored reply can be checked whole."""
    return "".join(token_text(i) for i in range(tokens))


def chunk(payload: dict | str) -> bytes:
    data = b"data: " + (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def delta_chunk(delta: dict, finish: str | None = None) -> bytes:
    return chunk({"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                  "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


class SlowModel:
    def __init__(self, tokens: int, seconds: float) -> None:
        self.tokens = tokens
        self.interval = seconds / tokens
        self.seconds = seconds
        self.frames = [delta_chunk({"role": "assistant", "content": token_text(0)})]
        self.frames += [delta_chunk({"content": token_text(i)}) for i in range(1, tokens)]
        usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": tokens + 10}
        self.tail = (delta_chunk({}, "stop")
                     + chunk({"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                              "choices": [], "usage": usage})
                     + chunk("[DONE]") + b"0\r\n\r\n")
        # Each open stream: [writer, next frame index, done future].
        self.streams: list[list] = []
        self.calls = 0
        self.open_peak = 0

    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            alive = []
            for stream in self.streams:
                writer, index, done = stream
                try:
                    if writer.is_closing():
                        done.set_result(None)
                    elif index < self.tokens:
                        writer.write(self.frames[index])
                        stream[1] += 1
                        alive.append(stream)
                    else:
                        writer.write(self.tail)
                        done.set_result(None)
                except (ConnectionError, RuntimeError):
                    done.set_result(None)
            self.streams = alive

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = json.loads(await reader.readexactly(length)) if length else {}
                self.calls += 1
                if body.get("stream"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
                    done = asyncio.get_running_loop().create_future()
                    self.streams.append([writer, 0, done])
                    self.open_peak = max(self.open_peak, len(self.streams))
                    await done
                else:
                    await asyncio.sleep(self.seconds)
                    payload = json.dumps({
                        "id": "chatcmpl-slow", "object": "chat.completion", "created": 0, "model": MODEL,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": expected_reply(self.tokens)},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": self.tokens, "total_tokens": self.tokens + 10},
                    }).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(payload), payload))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def serve(port: int, tokens: int, seconds: float, max_seconds: float) -> None:
    model = SlowModel(tokens, seconds)
    server = await asyncio.start_server(model.handle, "127.0.0.1", port, backlog=4096)
    ticker = asyncio.create_task(model.ticker())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), timeout=max_seconds)
    except TimeoutError:
        pass
    ticker.cancel()
    server.close()
    times = os.times()
    print(json.dumps({"cpu_seconds": round(times.user + times.system, 2), "calls": model.calls,
                      "open_streams_peak": model.open_peak}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long in any case")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.tokens, args.seconds, args.max_seconds))
