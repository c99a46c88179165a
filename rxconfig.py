"""Reflex configuration. The app's own settings live in chatapp/config.py;
Reflex itself reads BACKEND_PORT / FRONTEND_PORT from the environment."""

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from chatapp.config import get_settings

config = rx.Config(
    app_name="chatapp",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        # Light or dark follows the system until the toggle picks one.
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="inherit", accent_color="indigo", gray_color="slate", radius="large"),
        ),
    ],
    disable_plugins=[SitemapPlugin],
    # Reflex's default ("*" with credentials) reflects any Origin. Only the
    # configured ones (CORS_ORIGINS; default: the web UI's own origin).
    cors_allowed_origins=get_settings().allowed_cors_origins,
)
