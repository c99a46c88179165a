"""The outermost ASGI layer: a request id on every answer and log line, one
access-log line per request, and the HTTP error count for /metrics.

- The id is the client's `X-Request-ID` when it is sane (1-128 characters
  of letters, digits and `-_.:/+=@`: what proxies and tracing headers use,
  nothing that could forge a log line), else a fresh random one. It is set
  in a context variable for everything serving the request (tasks and
  worker threads inherit it) and echoed on the response. (Reflex's
  websocket, `/_event`, is left alone: its handshake is not an answer of
  this app's, and its events are not requests.)
- The access line is written when the answer is complete (a streamed turn
  ends with its last event); like every log line it is only enqueued here
  and formatted on the logging thread.
- An answer with status >= 400 is counted by status and by the error
  shape's `error_code`, read from its first body chunk with a regex (error
  bodies are small, one chunk); other answers cost nothing more.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatapp import metrics
from chatapp.logs import ACCESS_LOGGER, request_id

access_logger = logging.getLogger(ACCESS_LOGGER)

HEADER = b"x-request-id"
SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9\-_.:/+=@]{1,128}")
ERROR_CODE = re.compile(rb'"error_code"\s*:\s*"([a-z_]{1,40})"')


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("ascii") if SANE_REQUEST_ID.fullmatch(value) else None
    return None


def new_request_id() -> str:
    return secrets.token_hex(16)


class RequestObserver:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope) or new_request_id()
        token = request_id.set(rid)
        header = (HEADER, rid.encode("ascii"))
        started_at = time.perf_counter()
        status = 0
        error_status = 0  # set while an error answer's first body chunk is awaited

        async def observed_send(message: Message) -> None:
            nonlocal status, error_status
            kind_of = message["type"]
            if kind_of == "http.response.start":
                status = message["status"]
                headers = [item for item in message.get("headers", ()) if item[0].lower() != HEADER]
                message = {**message, "headers": [*headers, header]}
                if status >= 400:
                    error_status = status
            elif kind_of == "http.response.body" and error_status:
                found = ERROR_CODE.search(message.get("body", b"")[:4096])
                metrics.http_error(error_status, found.group(1).decode() if found else None)
                error_status = 0
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            if error_status:  # a start with no body
                metrics.http_error(error_status, None)
            if access_logger.isEnabledFor(logging.INFO):
                access_logger.info(
                    "%s %s %s", scope.get("method"), scope.get("path"), status,
                    extra={"method": scope.get("method"), "path": scope.get("path"), "status": status,
                           "duration_ms": round((time.perf_counter() - started_at) * 1000, 3),
                           "client": (scope.get("client") or ("", 0))[0]},
                )
            request_id.reset(token)
