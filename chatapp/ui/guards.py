"""The sign-in guards the web UI shares with the REST API: the same rate
limiter (per client IP and per email) and the same bounded password-hashing
pool, so the websocket is no way around either.

`chatapp/chatapp.py` hands the API's instances over once at start-up (a
Reflex state cannot take constructor arguments); a UI served without the API
(never in this app) builds its own on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatapp.config import get_settings
from chatapp.services.passwords import PasswordHashing
from chatapp.services.ratelimit import RateLimiter


@dataclass
class AuthGuards:
    limiter: RateLimiter
    hashing: PasswordHashing


_guards: AuthGuards | None = None


def share_guards(limiter: RateLimiter, hashing: PasswordHashing) -> None:
    global _guards
    _guards = AuthGuards(limiter, hashing)


def auth_guards() -> AuthGuards:
    global _guards
    if _guards is None:
        settings = get_settings()
        _guards = AuthGuards(RateLimiter(settings), PasswordHashing(settings.password_hash_concurrency))
    return _guards
