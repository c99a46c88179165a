"""A scripted OpenAI-compatible chat-completions server for the test suite.

It answers `POST .../chat/completions` on 127.0.0.1 only, one scripted step
per request, in order: a text reply, a tool call, an HTTP failure with an
OpenAI-style error body, a hang (the request is held open until teardown),
or malformed output. `stream: true` requests get real `chat.completion.chunk`
server-sent events ending in `data: [DONE]`. Every request is recorded
(path, headers, decoded JSON body) so tests can check what the app sent.

    fake_openai.script(tool_call("add_task", {"title": "Buy groceries"}), reply("Added it."))
    ... run a turn against a server configured with openai_base_url=fake_openai.base_url ...
    assert fake_openai.requests[1].tool_messages()[0]["tool_call_id"] == "call_1"

A request that finds the script empty gets a 500 whose message says so, and
is counted in `.unscripted`, so a test never hangs on a missing step.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# How long a `hang` step holds a request at most (teardown releases it sooner).
MAX_HANG_SECONDS = 120.0

ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "overloaded"),
}


# --- script steps ---------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    text: str
    pieces: int = 3  # how many text deltas a streamed reply is split into


@dataclass(frozen=True)
class ScriptedCall:
    """A tool call the fake provider is scripted to send (not a stored `chatapp.db.ToolCall`)."""

    name: str
    arguments: dict[str, Any] | str  # a str is sent verbatim (e.g. broken JSON)
    call_id: str | None = None  # None: call_1, call_2, ... in order of use


@dataclass(frozen=True)
class Failure:
    status: int
    message: str | None = None


@dataclass(frozen=True)
class Hang:
    seconds: float = MAX_HANG_SECONDS


@dataclass(frozen=True)
class Malformed:
    kind: str = "invalid_json"  # or "no_choices"


Step = Reply | ScriptedCall | Failure | Hang | Malformed


def reply(text: str, pieces: int = 3) -> Reply:
    return Reply(text, pieces)


def tool_call(name: str, arguments: dict[str, Any] | str | None = None, call_id: str | None = None) -> ScriptedCall:
    return ScriptedCall(name, arguments if isinstance(arguments, str) else dict(arguments or {}), call_id)


def failure(status: int, message: str | None = None) -> Failure:
    return Failure(status, message)


def hang(seconds: float = MAX_HANG_SECONDS) -> Hang:
    return Hang(seconds)


def malformed(kind: str = "invalid_json") -> Malformed:
    if kind not in ("invalid_json", "no_choices"):
        raise ValueError(f"unknown malformed kind {kind!r}")
    return Malformed(kind)


# --- what was received ----------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # decoded JSON, or the raw text if it was not JSON
    step: Step | None = None  # what was answered (None: the script was empty)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or []) if isinstance(self.body, dict) else []

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def tool_names(self) -> list[str]:
        tools = self.body.get("tools") or [] if isinstance(self.body, dict) else []
        return [tool["function"]["name"] for tool in tools if tool.get("type") == "function"]

    def role(self, role: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message.get("role") == role]

    def tool_messages(self) -> list[dict[str, Any]]:
        return self.role("tool")


def message_text(content: Any) -> str:
    """A chat message's content as text: a string, or the text parts of a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


# --- the server -----------------------------------------------------------


class FakeOpenAI:
    """Scripted chat completions on 127.0.0.1, served from a background thread."""

    def __init__(self, model: str = "fake-model") -> None:
        self.model = model
        self.requests: list[RecordedRequest] = []
        self.unscripted = 0
        self._steps: deque[Step] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._call_ids = itertools.count(1)
        self._completion_ids = itertools.count(1)
        # A unique path prefix, so a client cached per base URL is never shared
        # between two fakes that happen to get the same port.
        self._prefix = f"/fake-{uuid.uuid4().hex[:8]}"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # public API

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._prefix}/v1"

    def script(self, *steps: Step) -> FakeOpenAI:
        """Append steps; each request consumes the next one."""
        with self._lock:
            self._steps.extend(steps)
        return self

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._steps)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake OpenAI got {len(self.requests)} requests, expected {count}")
            time.sleep(0.01)
        return self.requests

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def close(self) -> None:
        self._release.set()  # let hanging handlers go
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # request handling

    def _next_step(self, request: RecordedRequest) -> Step | None:
        with self._lock:
            step = self._steps.popleft() if self._steps else None
            if step is None:
                self.unscripted += 1
            request.step = step
            self.requests.append(request)
        return step

    def _call_id(self, step: ScriptedCall) -> str:
        return step.call_id or f"call_{next(self._call_ids)}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._json(404, error_body(404, f"fake OpenAI: no route GET {self.path}"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                if not self.path.startswith(fake._prefix) or not self.path.endswith("/chat/completions"):
                    self._json(404, error_body(404, f"fake OpenAI: no route POST {self.path}"))
                    return
                request = RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                step = fake._next_step(request)
                try:
                    self._answer(step, request)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass  # the client gave up (e.g. its turn timed out)

            def _answer(self, step: Step | None, request: RecordedRequest) -> None:
                if step is None:
                    self._json(500, error_body(500, "fake OpenAI: the test scripted no step for this request"))
                elif isinstance(step, Failure):
                    self._json(step.status, error_body(step.status, step.message))
                elif isinstance(step, Hang):
                    fake._release.wait(step.seconds)
                    self._json(500, error_body(500, "fake OpenAI: hang released"))
                elif isinstance(step, Malformed):
                    self._malformed(step, request)
                elif request.stream:
                    self._stream(step, request)
                else:
                    self._json(200, fake._completion(step, request))

            def _json(self, status: int, payload: Any) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.send_header("x-request-id", f"req_fake_{len(fake.requests)}")
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                self.close_connection = True

            def _start_events(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _event(self, payload: Any) -> None:
                text = payload if isinstance(payload, str) else json.dumps(payload)
                self._chunk(f"data: {text}\n\n".encode())

            def _end_events(self) -> None:
                self._chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _stream(self, step: Reply | ScriptedCall, request: RecordedRequest) -> None:
                self._start_events()
                for chunk in fake._chunks(step, request):
                    self._event(chunk)
                    time.sleep(0.005)  # really separate deltas on the wire
                self._end_events()

            def _malformed(self, step: Malformed, request: RecordedRequest) -> None:
                if request.stream:
                    self._start_events()
                    if step.kind == "invalid_json":
                        self._event('{"id": "chatcmpl-broken", "choices": [{"delta": {"content": "He')
                    else:
                        self._event({"id": "chatcmpl-broken", "object": "chat.completion.chunk", "created": 0,
                                     "model": fake.model})
                    self._end_events()
                elif step.kind == "invalid_json":
                    self._json(200, b'{"id": "chatcmpl-broken", "choices": [{"message": ')
                else:
                    self._json(200, {"id": "chatcmpl-broken", "object": "chat.completion", "created": 0,
                                     "model": fake.model})

        return Handler

    # payloads

    def _completion(self, step: Reply | ScriptedCall, request: RecordedRequest) -> dict[str, Any]:
        if isinstance(step, Reply):
            message: dict[str, Any] = {"role": "assistant", "content": step.text, "refusal": None}
            finish = "stop"
        else:
            message = {
                "role": "assistant", "content": None, "refusal": None,
                "tool_calls": [{
                    "id": self._call_id(step), "type": "function",
                    "function": {"name": step.name, "arguments": arguments_text(step)},
                }],
            }
            finish = "tool_calls"
        return {
            "id": f"chatcmpl-fake-{next(self._completion_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self._model_of(request),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def _chunks(self, step: Reply | ScriptedCall, request: RecordedRequest) -> Iterator[dict[str, Any]]:
        base = {
            "id": f"chatcmpl-fake-{next(self._completion_ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self._model_of(request),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        if isinstance(step, Reply):
            yield chunk({"role": "assistant", "content": ""})
            for piece in split_text(step.text, step.pieces):
                yield chunk({"content": piece})
            yield chunk({}, "stop")
        else:
            arguments = arguments_text(step)
            half = len(arguments) // 2
            yield chunk({"role": "assistant", "content": None, "tool_calls": [{
                "index": 0, "id": self._call_id(step), "type": "function",
                "function": {"name": step.name, "arguments": ""},
            }]})
            for part in (arguments[:half], arguments[half:]):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
            yield chunk({}, "tool_calls")
        options = request.body.get("stream_options") if isinstance(request.body, dict) else None
        if isinstance(options, dict) and options.get("include_usage"):
            yield {**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    def _model_of(self, request: RecordedRequest) -> str:
        return request.body.get("model", self.model) if isinstance(request.body, dict) else self.model


def arguments_text(step: ScriptedCall) -> str:
    return step.arguments if isinstance(step.arguments, str) else json.dumps(step.arguments)


def split_text(text: str, pieces: int) -> list[str]:
    """`text` in up to `pieces` non-empty consecutive parts."""
    pieces = max(1, min(pieces, len(text)))
    size = -(-len(text) // pieces) if text else 0
    return [text[i:i + size] for i in range(0, len(text), size)] if text else [""]


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind, code = ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message or f"fake OpenAI error {status}", "type": kind, "param": None, "code": code}}


@pytest.fixture(name="fake_openai")
def fake_openai_fixture() -> Iterator[FakeOpenAI]:
    """A started `FakeOpenAI`, closed (hanging requests released) at teardown.
    Every test module has it: tests/conftest.py registers this module as a plugin."""
    with FakeOpenAI() as fake:
        yield fake
