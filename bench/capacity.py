"""Capacity: how many streamed turns `make api` holds in flight against a
slow model, on this machine.

A slow OpenAI-compatible server (bench/slow_model.py, asyncio, its own
process: 200 tokens over 20 s per call) stands in for the model; the app
reaches it through OPENAI_BASE_URL, so turns run on chatapp's
ChatCompletionsModel. New streamed turns (POST /api/{user}/chat/stream, a
new conversation each) arrive at a steady rate, open loop (scheduled, never
waiting for earlier turns), in steps of rising rate. Each step runs for the
stream's length (filling up) plus a 60 s hold; a step passes with 0 errors,
every reply complete (the `done` event carries the stored answer: status
complete, exactly the streamed text) and first-event p99 < 250 ms, measured
from each turn's scheduled start. The run stops after the first failing
step and reports the largest mean number of turns in flight held by a
passing step, with server CPU and memory per in-flight turn. At the end the
database is checked: no answer left in progress or failed.

The client is raw asyncio sockets in this process (HTTP/1.1, Connection:
close), so it costs little; its CPU, the model's and the server's are all
recorded. Every step and wait is bounded in time.

    make capacity          # or: .venv/bin/python bench/capacity.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.plots import machine_info, plot_capacity  # noqa: E402
from bench.slow_model import expected_reply  # noqa: E402
from bench.stack import ROOT, User, database, free_port, server_rss, served, sign_up  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "capacity.json"
FIRST_EVENT_BAR_MS = 250.0
TURN_TIMEOUT_S = 90.0


@dataclass
class Outcome:
    scheduled: float
    first_event_ms: float | None = None
    duration_ms: float | None = None
    error: str | None = None
    complete: bool = False


def dechunk(raw: bytes) -> bytes:
    """An HTTP/1.1 chunked body, decoded."""
    out, position = [], 0
    while True:
        end = raw.find(b"\r\n", position)
        if end < 0:
            break
        size = int(raw[position:end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(raw[end + 2:end + 2 + size])
        position = end + 2 + size + 2
    return b"".join(out)


def done_event(body: bytes) -> dict | None:
    for block in body.split(b"\n\n"):
        if block.startswith(b"event: done\n"):
            return json.loads(block.split(b"data: ", 1)[1])
    return None


class Client:
    def __init__(self, port: int, users: list[User], expected: str) -> None:
        self.port = port
        self.users = users
        self.expected = expected
        self.in_flight = 0
        self.sent = 0

    async def turn(self, outcome: Outcome) -> None:
        user = self.users[self.sent % len(self.users)]
        self.sent += 1
        self.in_flight += 1
        loop = asyncio.get_running_loop()
        writer = None
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                body = b'{"message": "tell me a long story"}'
                writer.write(
                    f"POST /api/{user.user_id}/chat/stream HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                    f"Authorization: Bearer {user.token}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
                received = bytearray()
                while data := await reader.read(65536):
                    received += data
                    if outcome.first_event_ms is None and b"event: user_message" in received:
                        outcome.first_event_ms = (loop.time() - outcome.scheduled) * 1000
            outcome.duration_ms = (loop.time() - outcome.scheduled) * 1000
            head, _, raw = bytes(received).partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                outcome.error = head.split(b"\r\n", 1)[0].decode(errors="replace")
                return
            payload = dechunk(raw) if b"chunked" in head.lower() else raw
            done = done_event(payload)
            if done is None:
                outcome.error = "no done event" + (" (error event)" if b"event: error" in payload else "")
                return
            answer = done["messages"][-1]
            outcome.complete = answer["status"] == "complete" and answer["content"] == self.expected
            if not outcome.complete:
                outcome.error = f"incomplete answer: {answer['status']}, {len(answer['content'])} chars"
        except TimeoutError:
            outcome.error = "timeout"
        except OSError as error:
            outcome.error = f"{type(error).__name__}: {error}"
        finally:
            self.in_flight -= 1
            if writer is not None:
                writer.close()


def processes_cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def server_group(api) -> list[psutil.Process]:
    root = psutil.Process(api.process.pid)
    return [root, *root.children(recursive=True)]


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] if ordered else 0.0


async def run_step(client: Client, api, model: psutil.Process, rate: float, fill_s: float, hold_s: float,
                   drain_s: float, idle_rss: int) -> dict:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    count = int(rate * (fill_s + hold_s))
    outcomes = [Outcome(scheduled=start + i / rate) for i in range(count)]
    tasks: list[asyncio.Task] = []
    in_flight: list[int] = []
    rss: list[int] = []
    me = psutil.Process()
    hold_begins, hold_ends = start + fill_s, start + fill_s + hold_s
    cpu_marks: dict[str, tuple[float, float, float, float]] = {}
    next_sample = hold_begins

    def mark(name: str) -> None:
        cpu_marks[name] = (loop.time(), processes_cpu(server_group(api)), processes_cpu([model]), processes_cpu([me]))

    for outcome in outcomes:
        while loop.time() < outcome.scheduled:
            now = loop.time()
            if now >= next_sample and now < hold_ends:
                if "hold" not in cpu_marks:
                    mark("hold")
                in_flight.append(client.in_flight)
                rss.append(server_rss(api))
                next_sample += 1.0
            await asyncio.sleep(min(outcome.scheduled, next_sample) - now if now < next_sample else outcome.scheduled - now)
        tasks.append(asyncio.create_task(client.turn(outcome)))
    if "hold" not in cpu_marks:
        mark("hold")
    mark("end")
    await asyncio.wait(tasks, timeout=drain_s)
    for task in tasks:
        task.cancel()
    wall = cpu_marks["end"][0] - cpu_marks["hold"][0]
    cores = [(cpu_marks["end"][i] - cpu_marks["hold"][i]) / wall * 100 for i in (1, 2, 3)]
    first = [o.first_event_ms for o in outcomes if o.first_event_ms is not None]
    durations = [o.duration_ms for o in outcomes if o.duration_ms is not None]
    errors = [o.error for o in outcomes if o.error]
    mean_in_flight = statistics.mean(in_flight) if in_flight else 0.0
    mean_rss = statistics.mean(rss) if rss else idle_rss
    step = {
        "rate_per_s": rate, "turns": count, "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
        "complete": sum(o.complete for o in outcomes),
        "in_flight_mean": round(mean_in_flight, 1), "in_flight_max": max(in_flight, default=0),
        "first_event_p50_ms": round(percentile(first, 50), 1), "first_event_p99_ms": round(percentile(first, 99), 1),
        "turn_p50_s": round(percentile(durations, 50) / 1000, 2), "turn_p99_s": round(percentile(durations, 99) / 1000, 2),
        "server_cpu_percent": round(cores[0], 1), "model_cpu_percent": round(cores[1], 1),
        "client_cpu_percent": round(cores[2], 1),
        "server_rss_mb": round(mean_rss / 2**20, 1),
        "server_cpu_ms_per_turn": round(cores[0] * 10 / rate, 1),
        "cpu_percent_per_in_flight_turn": round(cores[0] / mean_in_flight, 3) if mean_in_flight else None,
        "rss_kb_per_in_flight_turn": round((mean_rss - idle_rss) / 1024 / mean_in_flight, 1) if mean_in_flight else None,
    }
    step["passed"] = (step["errors"] == 0 and step["complete"] == count
                      and step["first_event_p99_ms"] < FIRST_EVENT_BAR_MS)
    return step


async def warm_up(client: Client, turns: int, timeout: float) -> None:
    """A few turns at once before measuring: each worker's first turn builds
    its agent, model client and connection pools."""
    loop = asyncio.get_running_loop()
    outcomes = [Outcome(scheduled=loop.time()) for _ in range(turns)]
    await asyncio.wait_for(asyncio.gather(*(client.turn(o) for o in outcomes)), timeout)
    failed = [o.error for o in outcomes if o.error]
    if failed:
        raise RuntimeError(f"warm-up turns failed: {failed[:3]}")


def stored_answers(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT status, count(*) FROM messages WHERE role = 'assistant' GROUP BY status")).all()
    engine.dispose()
    return {status: count for status, count in rows}


def main(args: argparse.Namespace) -> None:
    machine_at_start = machine_info()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the client's sockets, and the servers' (inherited)
    tokens, seconds = (20, 2.0) if args.quick else (args.tokens, args.seconds)
    hold = 5.0 if args.quick else args.hold
    rates = [5.0, 10.0] if args.quick else args.rates
    model_port = free_port()
    model = subprocess.Popen([sys.executable, str(ROOT / "bench" / "slow_model.py"), "--port", str(model_port),
                              "--tokens", str(tokens), "--seconds", str(seconds), "--max-seconds", "3600"],
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    steps: list[dict] = []
    answers: dict[str, int] = {}
    try:
        assert model.stdout is not None and model.stdout.readline().strip() == "ready"
        env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{model_port}/v1", "CHAT_MODEL": "slow-model"}
        with database() as stack, served(stack, args.workers, env) as api:
            users = sign_up(api, 64)
            client = Client(api.port, users, expected_reply(tokens))
            asyncio.run(warm_up(client, 4 * args.workers, seconds + 60))
            time.sleep(1)
            idle_rss = server_rss(api)
            deadline = time.monotonic() + args.max_minutes * 60
            for rate in rates:
                if time.monotonic() > deadline:
                    print("time bound reached; stopping")
                    break
                step = asyncio.run(run_step(client, api, psutil.Process(model.pid), rate, seconds + 2, hold,
                                            seconds + 60, idle_rss))
                steps.append(step)
                print(json.dumps(step), flush=True)
                if step["errors"] or (not step["passed"] and not args.keep_going):
                    break
                time.sleep(2)
            answers = stored_answers(stack.database_url)
    finally:
        model.terminate()
        try:
            model.wait(timeout=10)
        except subprocess.TimeoutExpired:
            model.kill()
    passing = [s for s in steps if s["passed"]]
    best = max(passing, key=lambda s: s["in_flight_mean"], default=None)
    print_table(steps)
    print(f"stored answers by status: {answers}")
    if best:
        print(f"capacity: {best['in_flight_mean']} turns in flight held {hold:.0f} s at {best['rate_per_s']} starts/s, "
              f"0 errors, first-event p99 {best['first_event_p99_ms']} ms; server CPU "
              f"{best['cpu_percent_per_in_flight_turn']}% of a core and {best['rss_kb_per_in_flight_turn']} KB per in-flight turn")
    else:
        print("capacity: no step passed")
    RESULTS.write_text(json.dumps({
        "machine": machine_info(), "machine_at_start": machine_at_start, "quick": args.quick, "workers": args.workers,
        "model": f"bench/slow_model.py: {tokens} tokens over {seconds} s per call, own process",
        "hold_seconds": hold, "first_event_bar_ms": FIRST_EVENT_BAR_MS,
        "capacity_in_flight": best["in_flight_mean"] if best else 0, "best_step": best,
        "stored_answers_by_status": answers, "steps": steps,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    for path in plot_capacity(json.loads(RESULTS.read_text())):
        print(f"wrote {path.relative_to(ROOT)}")


def print_table(steps: list[dict]) -> None:
    columns = ["rate_per_s", "in_flight_mean", "errors", "complete", "turns", "first_event_p50_ms",
               "first_event_p99_ms", "turn_p99_s", "server_cpu_percent", "server_rss_mb", "server_cpu_ms_per_turn",
               "rss_kb_per_in_flight_turn", "model_cpu_percent", "client_cpu_percent", "passed"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join(" ---: " for _ in columns) + "|")
    for step in steps:
        print("| " + " | ".join(str(step[c]) for c in columns) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 tokens over 2 s, two short steps: a smoke check")
    # Four workers on two cores: each worker's full garbage collections walk half the
    # in-flight turns they would with two, so each pauses its turns half as long.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hold", type=float, default=60.0)
    parser.add_argument("--rates", type=float, nargs="+", default=[2, 4, 6, 8, 10, 15, 20, 30, 40, 50, 60])
    parser.add_argument("--keep-going", action="store_true",
                        help="run the next rate after a step misses the first-event bar (not after errors), "
                             "to see CPU and memory at more turns in flight")
    parser.add_argument("--max-minutes", type=float, default=25.0, help="start no new step after this long")
    main(parser.parse_args())
