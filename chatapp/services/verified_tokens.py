"""Bearer tokens this worker has already verified, so a client that sends
the same token with every request pays for its HS256 signature and claim
checks once, not per request (PyJWT's decode was 4% of a served plain
turn's CPU, the JWT library's key preparation alone a quarter of that).

A token is remembered only after PyJWT has verified all of it, and only
for the exact string, audience, signing key and issuer it was verified
against, so a hit is what PyJWT would say again, except for the clock:
a hit is used only while the remembered claims are still current (not
expired, not before their `iat`/`nbf`), and anything else goes back
through PyJWT, which then raises its own error. Revocation is not a
signature question: it stays the database's to answer on every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# About 1.5 KB a token (the string, its claims): a few MB per worker at most.
MAX_TOKENS = 4096

Key = tuple[str, str, str, str]


def still_current(claims: dict[str, Any], now: float) -> bool:
    """PyJWT's time checks (leeway 0) on claims it has already accepted:
    `exp` must lie ahead, `iat` and `nbf` must have come."""
    return (int(claims["exp"]) > now
            and int(claims.get("iat", now)) <= now
            and int(claims.get("nbf", now)) <= now)


def copied(claims: dict[str, Any]) -> dict[str, Any]:
    """A copy no caller can change the remembered claims through: JWT claims
    here are flat, and `aud` is the one list among them."""
    return {name: list(value) if isinstance(value, list) else value for name, value in claims.items()}


class VerifiedTokens:
    """A bounded map from (token, audience, key, issuer) to the claims PyJWT
    returned; the oldest entry goes first when it is full."""

    def __init__(self, size: int = MAX_TOKENS, clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self.clock = clock
        self._claims: dict[Key, dict[str, Any]] = {}
        self._lock = threading.Lock()  # decode may run in a database thread too

    def get(self, key: Key) -> dict[str, Any] | None:
        claims = self._claims.get(key)
        if claims is None or not still_current(claims, self.clock()):
            return None
        return copied(claims)

    def remember(self, key: Key, claims: dict[str, Any]) -> None:
        with self._lock:
            self._claims.pop(key, None)
            while len(self._claims) >= self.size:
                del self._claims[next(iter(self._claims))]
            self._claims[key] = copied(claims)

    def __len__(self) -> int:
        return len(self._claims)
