"""The Reflex app: the web UI's pages, with the REST API and the MCP server
mounted on the same backend through `api_transformer`."""

from __future__ import annotations

import reflex as rx

from chatapp.api.app import create_api, mcp_lifespan
from chatapp.db import get_engine
from chatapp.ui.pages import STYLESHEETS, register_pages

api = create_api(get_engine(), run_mcp_lifespan=False)

# The Radix theme is configured in rxconfig.py (RadixThemesPlugin).
app = rx.App(api_transformer=api, stylesheets=STYLESHEETS)
app.register_lifespan_task(mcp_lifespan, api=api)

register_pages(app)
