"""The Reflex app: the web UI's pages, with the REST API and the MCP server
mounted on the same backend through `api_transformer`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import reflex as rx

from chatapp.api.app import create_api, mcp_lifespan
from chatapp.config import get_settings
from chatapp.db import get_engine
from chatapp.services.database import in_thread
from chatapp.services.tokens import encoding
from chatapp.shutdown import drain_on_signal, finish_drain
from chatapp.ui.guards import share_guards
from chatapp.ui.pages import STYLESHEETS, register_pages

api = create_api(get_engine(), run_mcp_lifespan=False)
share_guards(api.state.limiter, api.state.hashing)  # the web UI's sign-in is limited and bounded like the API's

# The Radix theme is configured in rxconfig.py (RadixThemesPlugin).
app = rx.App(api_transformer=api, stylesheets=STYLESHEETS)
app.register_lifespan_task(mcp_lifespan, api=api)


@asynccontextmanager
async def drain_turns() -> AsyncIterator[None]:
    """On SIGTERM, take no new turns and let the running ones finish, up to
    SHUTDOWN_GRACE_SECONDS from the signal (see chatapp/shutdown.py).
    Registered after `mcp_lifespan`, so it exits first: the MCP server still
    answers the turns it waits for."""
    grace = get_settings().shutdown_grace_seconds
    drain_on_signal(grace)
    yield
    await finish_drain(grace)


app.register_lifespan_task(drain_turns)


async def load_token_encoding() -> None:
    """Load the tokenizer (about 0.3 s) as the worker starts, not in its
    first turn: a fresh worker (a deploy, a respawn) answers as fast as the others."""
    await in_thread(encoding)


app.register_lifespan_task(load_token_encoding)

register_pages(app)
