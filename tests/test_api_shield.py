"""The API shield in front of everything under /api: whatever answers
below it (Reflex's catch-all, when mounted), /api never answers outside
the documented error shape."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from chatapp.api.middleware import ApiShield
from tests.support.api import assert_error


async def plain(request: Request) -> PlainTextResponse:
    status = 404 if request.url.path.endswith("missing") else 405
    return PlainTextResponse("Not Found" if status == 404 else "Method Not Allowed", status_code=status)


def shielded() -> ApiShield:
    app = Starlette(routes=[Route("/api/{rest:path}", plain, methods=["GET", "POST"])])
    return ApiShield(app, max_body_bytes=1024)


async def test_a_plain_text_404_under_api_becomes_the_error_shape() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shielded()), base_url="http://test") as client:
        assert_error(await client.get("/api/missing"), 404, "not_found")


async def test_a_plain_text_405_under_api_becomes_the_error_shape() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shielded()), base_url="http://test") as client:
        assert_error(await client.get("/api/wrong-method"), 405, "method_not_allowed")
