"""Reflex configuration. The app's own settings live in chatapp/config.py;
Reflex itself reads BACKEND_PORT / FRONTEND_PORT from the environment."""

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

config = rx.Config(
    app_name="chatapp",
    telemetry_enabled=False,
    disable_plugins=[SitemapPlugin],
)
