"""Graceful shutdown at the HTTP edge: while this worker drains, a request
that would start a turn is refused with 503 (the client retries and lands on
a worker that is not stopping), and every turn request already running is
tracked so the drain waits for it to answer (a plain `/chat` turn has no
task of its own) and not just for a streamed turn's agent run.

An ASGI middleware rather than a route dependency, so it sees a streamed
response through to its last byte and covers every turn route at once.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from chatapp.api.errors import HTTP_STATUS
from chatapp.services import inflight
from chatapp.services.errors import DRAINING_MESSAGE, Draining

RETRY_AFTER_SECONDS = 1
REFUSAL = Draining(DRAINING_MESSAGE).body()


def starts_a_turn(scope: Scope) -> bool:
    """POSTs under /api/{user_id}/ start (or retry) turns; sign-in does not."""
    path: str = scope.get("path", "")
    return (
        scope["type"] == "http"
        and scope.get("method") == "POST"
        and path.startswith("/api/")
        and not path.startswith("/api/auth/")
    )


class DrainingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not starts_a_turn(scope):
            await self.app(scope, receive, send)
            return
        if not inflight.accepting_turns():
            await refuse(send)
            return
        # Its own task (not the server's request task, which Granian does not
        # expose as a real asyncio task), so the drain can wait for it and,
        # past the deadline, cancel it: the turn then stores itself as interrupted.
        request = asyncio.create_task(self.app(scope, receive, send))
        inflight.track(request)
        await request


async def refuse(send: Send) -> None:
    body = json.dumps(REFUSAL).encode()
    await send({
        "type": "http.response.start",
        "status": HTTP_STATUS[Draining.error_code],
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            (b"connection", b"close"),
        ],
    })
    await send({"type": "http.response.body", "body": body})
