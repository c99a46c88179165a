"""The Reflex app: the web UI's pages, with the REST API and the MCP server
mounted on the same backend through `api_transformer`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import reflex as rx

from chatapp.api.app import create_api, mcp_lifespan
from chatapp.config import get_settings
from chatapp.db import get_engine
from chatapp.services import inflight
from chatapp.ui.pages import STYLESHEETS, register_pages

api = create_api(get_engine(), run_mcp_lifespan=False)

# The Radix theme is configured in rxconfig.py (RadixThemesPlugin).
app = rx.App(api_transformer=api, stylesheets=STYLESHEETS)
app.register_lifespan_task(mcp_lifespan, api=api)


@asynccontextmanager
async def drain_turns() -> AsyncIterator[None]:
    """On shutdown (SIGTERM), take no new turns and let the running ones
    finish, up to SHUTDOWN_GRACE_SECONDS. Registered after `mcp_lifespan`,
    so it exits first: the MCP server still answers the turns it waits for."""
    yield
    await inflight.drain(get_settings().shutdown_grace_seconds)


app.register_lifespan_task(drain_turns)

register_pages(app)
