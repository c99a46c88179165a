"""Rate limits on the `limits` library's async API.

Counters live in Redis when `REDIS_URL` is set, so a limit holds across
every worker, and in process memory otherwise. The limiter is one of the app's
parts (chatapp/services/parts.py); nothing here is module-global.

Each rule is a `limits` string ("10/minute; 50/hour") from a `RATE_LIMIT_*`
setting; a request over any part of it gets `RateLimited` with the seconds
until its window lets the next one through (the HTTP `Retry-After`).
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import logging
import math
import time
import uuid
from collections.abc import Iterable

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from chatapp.config import Settings
from chatapp.services.errors import RateLimited

logger = logging.getLogger("chatapp.ratelimit")

RULES = {
    "login_ip": "rate_limit_login_per_ip",
    "login_email": "rate_limit_login_per_email",
    "register_ip": "rate_limit_register_per_ip",
    "register_email": "rate_limit_register_per_email",
    "chat_user": "rate_limit_chat_per_user",
}


class SweptMemoryStorage(MemoryStorage):
    """`limits`' in-process storage, with its garbage collection made cheap.

    The stock storage starts a sweep of expired entries on every hit, and the
    sweep hops to a thread once for every stored key: with 32 users that was
    7% of a served turn's CPU on one worker. The moving window compares
    timestamps itself, so the sweep only bounds memory; here it runs at most
    once per `sweep_seconds`, as a task of its own (a bisect per key, no
    thread), yielding every `SWEEP_BATCH` keys so that a flood of keys (a
    login spray from many addresses) never holds the event loop."""

    SWEEP_BATCH = 1000

    def __init__(self, sweep_seconds: float = 5.0) -> None:
        super().__init__()
        self.sweep_seconds = sweep_seconds
        self.sweeps = 0
        self._next_sweep = 0.0

    # The stock storage calls its name-mangled `__schedule_expiry` on every hit.
    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        # `timer` is the stock storage's own sweep task (its `__del__` cancels it).
        if now >= self._next_sweep and (self.timer is None or self.timer.done()):
            self._next_sweep = now + self.sweep_seconds
            self.timer = asyncio.create_task(self.sweep())

    async def sweep(self) -> None:
        self.sweeps += 1
        now = time.time()
        for index, key in enumerate(list(self.events)):
            if index and index % self.SWEEP_BATCH == 0:
                await asyncio.sleep(0)
            events = self.events.get(key)
            if events is None:
                continue
            # Newest first, so the live entries are a prefix.
            live = bisect.bisect_left(events, -now, key=lambda event: -event.expiry)
            if live:
                del events[live:]
            else:
                del self.events[key]
                self.locks.pop(key, None)
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                del self.expirations[key]
                self.locks.pop(key, None)


def limits_storage(redis_url: str | None) -> Storage:
    if not redis_url:
        return SweptMemoryStorage()
    # redis-py (already a dependency) rather than the default coredis client.
    return RedisStorage(f"async+{redis_url}", implementation="redispy")


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.storage = limits_storage(settings.redis_url)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.rules: dict[str, list[RateLimitItem]] = {
            name: parse_many(getattr(settings, field)) for name, field in RULES.items()
        }

    async def hit(self, rule: str, key: str, *, message: str = "Too many attempts. Try again later.") -> None:
        """Count one attempt against `rule` for `key`; raise `RateLimited`
        when any window of the rule is full. A storage outage lets requests
        through (logged): a limiter must not take sign-in down with it."""
        if not self.enabled:
            return
        for item in self.rules[rule]:
            try:
                allowed = await self.strategy.hit(item, rule, key)
                if allowed:
                    continue
                stats = await self.strategy.get_window_stats(item, rule, key)
            except Exception as error:  # Redis unreachable: fail open
                logger.warning("rate limiter storage failed (%s); allowing the request", type(error).__name__)
                return
            raise RateLimited(message, retry_after=math.ceil(stats.reset_time - time.time()))

    async def reset(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        """Redis counters hold a connection pool of this event loop."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()


async def check_turn_rate(limiter: RateLimiter, user_id: uuid.UUID) -> None:
    """Count one chat turn for `user_id` (RATE_LIMIT_CHAT_PER_USER). For the
    turn pipeline: call it after idempotent replays are answered, so a
    replay never counts."""
    await limiter.hit("chat_user", str(user_id), message="Too many messages. Wait a moment and try again.")


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: Iterable[str]) -> str:
    """The client's address: the TCP peer, unless the peer is a trusted proxy;
    then the right-most X-Forwarded-For entry that is not a trusted proxy
    (entries left of it could be written by the client itself)."""
    networks = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies]
    peer = peer or "unknown"

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not networks or not trusted(peer) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: fall back to the proxy itself
    return hops[0] if hops else peer
