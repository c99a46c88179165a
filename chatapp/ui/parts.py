"""The app's parts as the web UI's event handlers reach them: the same
engine, settings, rate limiter, password-hashing pool, turn bus and agent
the REST API uses, so the websocket is no way around a limit and no second
set of connections is opened.

A Reflex state takes no constructor arguments, so the app entry point
(chatapp/chatapp.py) hands the parts over here from the worker's lifespan,
once they are open, and takes them back before they close.
"""

from __future__ import annotations

from chatapp.services.parts import AppParts

_parts: AppParts | None = None


def use_parts(parts: AppParts | None) -> None:
    global _parts
    _parts = parts


def app_parts() -> AppParts:
    if _parts is None:
        raise RuntimeError("the app's parts are not open: the UI runs only inside the app's lifespan")
    return _parts
