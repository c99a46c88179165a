"""The Reflex app: the web UI's pages, with the REST API and the MCP server
mounted on the same backend through `api_transformer`.

This is where a worker's parts are wired: the settings are read and the
engine built here, once; `serve_parts` (a lifespan task, so inside the
worker's event loop) opens the rest (chatapp/services/parts.py), hands them
to the API and the UI, and closes them all at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import reflex as rx
from reflex_components_core.core.upload import Upload

from chatapp.api.app import create_api, serving
from chatapp.config import get_settings
from chatapp.db import engine_from
from chatapp.services.database import in_thread
from chatapp.services.tokens import encoding
from chatapp.shutdown import drain_on_signal, finish_drain
from chatapp.ui.pages import STYLESHEETS, register_pages
from chatapp.ui.parts import use_parts

settings = get_settings()
engine = engine_from(settings)
api = create_api(engine, settings=settings, run_lifespan=False)

# The Radix theme is configured in rxconfig.py (RadixThemesPlugin).
app = rx.App(api_transformer=api, stylesheets=STYLESHEETS)

# The sidebar's Import posts its file to Reflex's /_upload. Reflex adds that
# route only once an evaluated page has used an upload, and a `make api`
# worker skips the frontend compile: it may read the page list another worker
# wrote and evaluate no page at all. So the route is declared here, for all.
Upload.is_used = True


@asynccontextmanager
async def serve_parts() -> AsyncIterator[None]:
    """The API's lifespan (its parts and the MCP server's session manager),
    run by Reflex: a mounted app's own lifespan never runs. The web UI's
    handlers get the same parts, so its sign-in is limited and bounded like
    the API's."""
    try:
        async with serving(api) as parts:
            use_parts(parts)
            try:
                yield
            finally:
                use_parts(None)
    finally:
        engine.dispose()


app.register_lifespan_task(serve_parts)


@asynccontextmanager
async def drain_turns() -> AsyncIterator[None]:
    """On SIGTERM, take no new turns and let the running ones finish, up to
    SHUTDOWN_GRACE_SECONDS from the signal (see chatapp/shutdown.py).
    Registered after `serve_parts`, so it exits first: the parts and the MCP
    server still serve the turns it waits for."""
    drain_on_signal(settings.shutdown_grace_seconds)
    yield
    await finish_drain(settings.shutdown_grace_seconds)


app.register_lifespan_task(drain_turns)


async def load_token_encoding() -> None:
    """Load the tokenizer (about 0.3 s) as the worker starts, not in its
    first turn: a fresh worker (a deploy, a respawn) answers as fast as the others."""
    await in_thread(encoding)


app.register_lifespan_task(load_token_encoding)

register_pages(app)
