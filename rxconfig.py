"""Reflex configuration. The app's own settings live in chatapp/config.py."""

import os

import reflex as rx

config = rx.Config(
    app_name="chatapp",
    backend_port=int(os.environ.get("BACKEND_PORT", "8000")),
    frontend_port=int(os.environ.get("FRONTEND_PORT", "3000")),
    telemetry_enabled=False,
    disable_plugins=["reflex.plugins.sitemap.SitemapPlugin"],
)
