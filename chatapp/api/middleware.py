"""One pure-ASGI layer around the whole backend (the API, /mcp and, when
Reflex mounts the app, Reflex's own routes):

- every HTTP response gets the security headers (`X-Content-Type-Options`,
  `Referrer-Policy`, and a Content-Security-Policy for the web UI's pages);
- request bodies under `/api` and `/mcp` are capped (`MAX_BODY_BYTES`; the
  conversation import has its own `IMPORT_MAX_BYTES`) before they are read in
  full: a declared `Content-Length` over the cap is answered 413 at once,
  without reading a byte; a streamed (chunked) body is counted as it arrives
  and refused the moment it passes the cap;
- an exception nothing else handled becomes one plain-text log line (written
  by the logging thread, see `chatapp.logs`) and a 500 in the error shape,
  so Starlette's `ServerErrorMiddleware` never logs it a second time.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatapp.api.errors import HTTP_STATUS
from chatapp.services.errors import error_body

logger = logging.getLogger("chatapp.api")

CAPPED_PREFIXES = ("/api/", "/mcp")
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f]")
# The web UI is a Reflex (React) bundle: its own scripts and styles, inline
# styles from Radix and emotion, inline bootstrap scripts, and the websocket to
# the backend. Nothing is loaded from another origin.
UI_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/redoc")


class BodyTooLarge(HTTPException):
    """Raised from `receive`: FastAPI re-raises HTTPExceptions from body
    parsing unchanged, so the error handlers answer it in the error shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"Request body is larger than {limit} bytes.")


def error_bytes(code: str, message: str) -> bytes:
    return json.dumps(error_body(code, message)).encode()


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"strict-origin-when-cross-origin")]
    is_api = path.startswith(CAPPED_PREFIXES) or path in ("/openapi.json", "/metrics") or path.startswith("/.well-known/")
    if path.startswith(DOCS_PATHS):
        pass  # Swagger UI and ReDoc load their bundles from a CDN: no CSP rather than a broken page
    elif is_api:
        headers.append((b"content-security-policy", API_CSP.encode()))
    else:
        headers.append((b"content-security-policy", UI_CSP.encode()))
        headers.append((b"x-frame-options", b"DENY"))
    return headers


# The one route whose body may be larger: a whole exported conversation.
IMPORT_PATH = re.compile(r"^/api/[^/]+/conversations/import$")


class ApiShield:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, import_max_bytes: int | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.import_max_bytes = import_max_bytes or max_body_bytes

    def body_limit(self, scope: Scope, path: str) -> int:
        if scope.get("method") == "POST" and IMPORT_PATH.match(path):
            return self.import_max_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = security_headers(path)
        started = False

        replaced = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started, replaced
            if replaced:  # the body of a plain-text answer we replaced
                return
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower(): value for name, value in message.get("headers", [])}
                if path.startswith("/api") and message["status"] in (404, 405) and b"json" not in names.get(b"content-type", b""):
                    # Something below (Reflex's catch-all) answered /api in plain text: the error shape instead.
                    replaced = True
                    code, text = ("not_found", "No such API route.") if message["status"] == 404 else ("method_not_allowed", "Method not allowed.")
                    await ApiShield.answer(send_with_extra, code, text)
                    return
                message = {**message, "headers": [*message.get("headers", []), *(h for h in extra if h[0] not in names)]}
            await send(message)

        async def send_with_extra(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], *extra]}
            await send(message)

        capped = path.startswith(CAPPED_PREFIXES)
        limit = self.body_limit(scope, path)
        if path.startswith("/api") and CONTROL_CHARS.search(path):
            # No route segment may hold one; answered here so no router can miss it.
            await self.answer(send_with_headers, "invalid_request", "The path contains control characters.")
            return
        if capped:
            declared = declared_length(scope)
            if declared is not None and declared > limit:
                await self.answer(send_with_headers, "payload_too_large", BodyTooLarge(limit).detail)
                return
            receive = counting_receive(receive, limit)

        try:
            await self.app(scope, receive, send_with_headers)
        except BodyTooLarge as error:
            if not started:
                await self.answer(send_with_headers, "payload_too_large", error.detail)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), path)
            if not started:
                await self.answer(send_with_headers, "internal_error", "Something went wrong on our side.")

    @staticmethod
    async def answer(send: Send, code: str, message: str) -> None:
        body = error_bytes(code, message)
        status = HTTP_STATUS[code]
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 413:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def counting_receive(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def receive_counted() -> Message:
        nonlocal seen
        message: dict[str, Any] = await receive()  # type: ignore[assignment]
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message  # type: ignore[return-value]

    return receive_counted
