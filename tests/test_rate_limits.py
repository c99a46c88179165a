"""Rate limits on sign-in and sign-up (per client IP, per email) and chat
turns (per user), counted by `limits` in memory or in Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine

from chatapp.api.errors import http_status
from chatapp.config import Settings
from chatapp.services.errors import RateLimited
from chatapp.services.ratelimit import RateLimiter, SweptMemoryStorage, check_turn_rate, client_ip
from tests.support.api import register, serve
from tests.support.environment import GENEROUS_LIMIT

GENEROUS = {f"rate_limit_{name}": GENEROUS_LIMIT for name in
            ("login_per_ip", "login_per_email", "register_per_ip", "register_per_email", "chat_per_user")}


def limited_client(engine: Engine, **overrides: object) -> Iterator[httpx.Client]:
    for api in serve(engine, **{**GENEROUS, **overrides}):
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            yield http


def login(http: httpx.Client, email: str, forwarded: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return http.post("/api/auth/login", json={"email": email, "password": "Wrong-horse-9"}, headers=headers)


def test_sign_in_is_limited_per_client_ip(engine: Engine) -> None:
    for http in limited_client(engine, rate_limit_login_per_ip="3/minute"):
        codes = [login(http, f"u{i}@example.com").status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]


def test_sign_up_is_limited_per_email(engine: Engine) -> None:
    for http in limited_client(engine, rate_limit_register_per_email="2/minute"):
        body = {"email": "same@example.com", "password": "Correct-horse-9"}
        codes = [http.post("/api/auth/register", json=body).status_code for _ in range(3)]
        assert codes == [201, 409, 429]


def test_sign_up_is_limited_per_client_ip(engine: Engine) -> None:
    for http in limited_client(engine, rate_limit_register_per_ip="2/minute"):
        codes = [http.post("/api/auth/register", json={"email": f"r{i}@example.com", "password": "Correct-horse-9"}).status_code
                 for i in range(3)]
        assert codes == [201, 201, 429]


def test_a_limited_request_gets_429_rate_limited_with_retry_after(engine: Engine) -> None:
    for http in limited_client(engine, rate_limit_login_per_email="1/minute"):
        login(http, "x@example.com")
        response = login(http, "x@example.com")
        assert response.status_code == 429 and response.json()["error_code"] == "rate_limited"
        assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_forwarded_for_is_ignored_from_an_untrusted_peer(engine: Engine) -> None:
    for http in limited_client(engine, rate_limit_login_per_ip="2/minute"):
        codes = [login(http, f"u{i}@example.com", forwarded=f"203.0.113.{i}").status_code for i in range(3)]
        assert codes == [401, 401, 429]


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(engine: Engine) -> None:
    for http in limited_client(engine, rate_limit_login_per_ip="2/minute", trusted_proxies="127.0.0.1"):
        codes = [login(http, f"u{i}@example.com", forwarded=f"203.0.113.{i}").status_code for i in range(4)]
        assert codes == [401, 401, 401, 401]
        assert [login(http, "v@example.com", forwarded="198.51.100.7").status_code for _ in range(3)] == [401, 401, 429]


def test_client_ip_takes_the_rightmost_untrusted_forwarded_hop() -> None:
    assert client_ip("10.0.0.2", "1.2.3.4, 5.6.7.8, 10.0.0.1", ["10.0.0.0/8"]) == "5.6.7.8"
    assert client_ip("192.0.2.9", "1.2.3.4", ["10.0.0.0/8"]) == "192.0.2.9"


def test_limits_are_shared_through_redis_across_workers(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, **{**GENEROUS, "rate_limit_login_per_email": "2/minute"})

    async def attempt() -> list[bool]:
        first, second = RateLimiter(settings), RateLimiter(settings)  # two workers
        outcomes = []
        for limiter in (first, second, first):
            try:
                await limiter.hit("login_email", "shared@example.com")
                outcomes.append(True)
            except RateLimited:
                outcomes.append(False)
        return outcomes

    assert asyncio.run(attempt()) == [True, True, False]


def test_chat_turns_are_limited_per_user() -> None:
    limiter = RateLimiter(Settings(**{**GENEROUS, "rate_limit_chat_per_user": "2/minute"}))
    alice, bob = uuid.uuid4(), uuid.uuid4()

    async def turns() -> None:
        await check_turn_rate(limiter, alice)
        await check_turn_rate(limiter, alice)
        await check_turn_rate(limiter, bob)
        with pytest.raises(RateLimited) as limited:
            await check_turn_rate(limiter, alice)
        assert http_status(limited.value) == 429 and 1 <= limited.value.retry_after <= 60

    asyncio.run(turns())


def test_defaults_are_generous_for_a_person_and_documented() -> None:
    defaults = Settings.model_fields
    assert defaults["rate_limit_login_per_email"].default == "10/minute; 50/hour"
    assert defaults["rate_limit_chat_per_user"].default == "30/minute; 500/hour"


def test_an_unreachable_redis_lets_requests_through() -> None:
    from tests.support.ports import free_port

    limiter = RateLimiter(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0",
                                   **{**GENEROUS, "rate_limit_login_per_email": "1/minute"}))

    async def attempts() -> None:
        for _ in range(3):  # would be limited after one, if counted
            await asyncio.wait_for(limiter.hit("login_email", "x@example.com"), timeout=10)

    asyncio.run(attempts())


def test_garbage_in_forwarded_for_falls_back_to_the_proxy() -> None:
    assert client_ip("10.0.0.2", "not-an-ip", ["10.0.0.0/8"]) == "10.0.0.2"


def test_chat_route_answers_429_past_the_per_user_turn_limit(engine: Engine) -> None:
    for http in limited_client(engine, rate_limit_chat_per_user="2/minute"):
        account = register(http)
        for _ in range(2):
            assert http.post(account.chat_path(), headers=account.headers, json={"message": "hello"}).status_code == 200
        limited = http.post(account.chat_path(), headers=account.headers, json={"message": "hello"})
        assert limited.status_code == 429 and limited.json()["error_code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1


def test_an_idempotent_replay_is_answered_before_the_turn_limit_counts(engine: Engine) -> None:
    for http in limited_client(engine, rate_limit_chat_per_user="1/minute"):
        account = register(http)
        headers = {**account.headers, "Idempotency-Key": "replayed"}
        first = http.post(account.chat_path(), headers=headers, json={"message": "hello"})
        again = [http.post(account.chat_path(), headers=headers, json={"message": "hello"}) for _ in range(3)]
        assert [response.status_code for response in again] == [200, 200, 200]
        assert {response.json()["messages"][-1]["id"] for response in again} == {first.json()["messages"][-1]["id"]}
        fresh = http.post(account.chat_path(), headers={**account.headers, "Idempotency-Key": "new"}, json={"message": "hello"})
        assert fresh.status_code == 429


def test_the_in_memory_limiter_sweeps_at_most_once_per_interval_and_never_hops_to_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = SweptMemoryStorage(sweep_seconds=60)
    limiter = RateLimiter(Settings(**GENEROUS))
    limiter.storage, limiter.strategy = storage, MovingWindowRateLimiter(storage)
    hops: list[object] = []
    real_to_thread = asyncio.to_thread

    async def counted(*args: object, **kwargs: object) -> object:
        hops.append(args[0])
        return await real_to_thread(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "to_thread", counted)

    async def many_users() -> None:
        for _ in range(3):
            for _ in range(50):
                await check_turn_rate(limiter, uuid.uuid4())
        await asyncio.sleep(0.01)  # the sweep runs as a task of its own

    asyncio.run(many_users())
    assert storage.sweeps == 1 and hops == []


def test_the_sweep_drops_expired_windows_and_keeps_live_ones() -> None:
    storage = SweptMemoryStorage(sweep_seconds=0)
    strategy = MovingWindowRateLimiter(storage)
    short, long = parse("1/second"), parse("5/hour")

    async def hits() -> None:
        assert await strategy.hit(short, "short", "gone")
        assert await strategy.hit(long, "long", "kept")
        await asyncio.sleep(1.1)
        await storage.sweep()
        assert list(storage.events) == [long.key_for("long", "kept")]
        assert (await strategy.get_window_stats(long, "long", "kept")).remaining == 4
        assert await strategy.hit(short, "short", "gone")  # a fresh window

    asyncio.run(hits())


def test_a_sweep_of_many_keys_lets_the_event_loop_run_between_batches() -> None:
    storage = SweptMemoryStorage()
    strategy = MovingWindowRateLimiter(storage)
    rule = parse("5/hour")

    async def sweep_while_ticking() -> int:
        for index in range(3 * storage.SWEEP_BATCH):
            await strategy.hit(rule, "spray", str(index))
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        before = ticks
        await storage.sweep()
        ticker.cancel()
        assert len(storage.events) == 3 * storage.SWEEP_BATCH  # every window is live
        return ticks - before

    assert asyncio.run(sweep_while_ticking()) >= 2
