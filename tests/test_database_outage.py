"""A database outage: answers stay fast (503, never a hang), and once
PostgreSQL is back the very next request succeeds, with no restart of the
app and no 503 from connections the restart left dead in the pool."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from chatapp.config import Settings
from chatapp.db import make_engine, upgrade_database
from chatapp.services.auth import issue_token, issue_tool_token
from chatapp.services.tokens import encoding
from chatapp.tools.server import ChatappTokenVerifier, TokenCheckUnavailable
from tests.support.api import Account, register, send, serve
from tests.support.mcp_client import INITIALIZE, MCP_HEADERS
from tests.support.pg_cluster import PgCluster, remove_cluster, start_cluster
from tests.support.ports import free_port
from tests.support.servers import ApiProcess

# The issue's bounds: /api/health within 1 s, /chat within 2.5 s (psycopg's
# connect timeout cannot be under 2 s).
HEALTH_BOUND = 1.0
CHAT_BOUND = 2.5
# A shared machine's load only ever adds time, so the app's speed is the best
# of a few tries: a try under the bound shows the app can answer that fast,
# and one stall elsewhere on the machine does not fail the test.
TRIES = 3


@pytest.fixture
def silent_database() -> Iterator[int]:
    """A TCP port that takes connections and never answers, like a database
    host that hangs: the slow kind of outage, where only timeouts help.
    The tokenizer is loaded first, as a served worker does at start."""
    encoding()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


def timed(call: Callable[[], httpx.Response], bound: float) -> tuple[httpx.Response, float]:
    """The response of the fastest of up to `TRIES` calls and its time,
    stopping at the first call that answers within `bound`."""
    best: tuple[httpx.Response, float] | None = None
    for _ in range(TRIES):
        started = time.monotonic()
        response = call()
        elapsed = time.monotonic() - started
        if best is None or elapsed < best[1]:
            best = (response, elapsed)
        if elapsed < bound:
            break
    assert best is not None
    return best


def test_health_answers_503_within_1s_when_the_database_hangs(silent_database: int) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{silent_database}/chat")
    for api in serve(engine):
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            response, elapsed = timed(lambda: http.get("/api/health"), HEALTH_BOUND)
    engine.dispose()
    assert response.status_code == 503 and response.json()["database"] == "unavailable"
    assert elapsed < HEALTH_BOUND


def test_chat_answers_503_database_error_within_2_5s_when_the_database_hangs(silent_database: int) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{silent_database}/chat")
    user_id = uuid.uuid4()
    headers = {"Authorization": f"Bearer {issue_token(user_id, Settings())}"}
    for api in serve(engine):
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            response, elapsed = timed(
                lambda: http.post(f"/api/{user_id}/chat", headers=headers, json={"message": "hi"}), CHAT_BOUND)
    engine.dispose()
    assert response.status_code == 503 and response.json()["error_code"] == "database_error"
    assert elapsed < CHAT_BOUND


def mcp_post(base_url: str, token: str) -> httpx.Response:
    return httpx.post(f"{base_url}/mcp", json=INITIALIZE,
                      headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}, timeout=30)


def test_an_mcp_token_the_database_cannot_check_is_503_not_a_sign_in_challenge(silent_database: int) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{silent_database}/chat")
    for api in serve(engine):
        token = issue_tool_token(uuid.uuid4(), api.settings, 60)
        response, elapsed = timed(lambda: mcp_post(api.base_url, token), CHAT_BOUND)
    engine.dispose()
    assert response.status_code == 503 and response.json()["error_code"] == "database_error"
    assert "www-authenticate" not in response.headers
    assert elapsed < CHAT_BOUND


def test_a_badly_signed_mcp_token_is_still_401_while_the_database_hangs(silent_database: int) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{silent_database}/chat")
    for api in serve(engine):
        token = issue_tool_token(uuid.uuid4(), api.settings, 60)
        response = mcp_post(api.base_url, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    engine.dispose()
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer ")


async def test_the_mcp_verifier_raises_rather_than_refusing_a_token_it_could_not_check(silent_database: int) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{silent_database}/chat")
    settings = Settings()
    try:
        with pytest.raises(TokenCheckUnavailable):
            await ChatappTokenVerifier(engine, settings).verify_token(issue_tool_token(uuid.uuid4(), settings, 60))
    finally:
        engine.dispose()


@dataclass
class OutageApi:
    cluster: PgCluster
    server: ApiProcess
    http: httpx.Client
    account: Account


@pytest.fixture
def outage_api() -> Iterator[OutageApi]:
    """`make api` on a PostgreSQL cluster of its own, so stopping it
    disturbs no other test."""
    cluster = start_cluster()
    url = cluster.url(cluster.create_database())
    upgrade_database(url)
    server = ApiProcess(free_port(), {"DATABASE_URL": url})
    try:
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            account = register(http)
            yield OutageApi(cluster, server, http, account)
    finally:
        server.kill()
        remove_cluster(cluster)


def warm_the_pool(api: OutageApi, turns: int = 8) -> str:
    """Several turns at once, so the pool holds several connections."""
    conversation_id = send(api.http, api.account, "hello").json()["conversation_id"]
    with httpx.Client(base_url=api.server.base_url, timeout=30) as other:
        for _ in range(turns):
            assert send(other, api.account, "what's left?", conversation_id).status_code == 200
    return conversation_id


@pytest.mark.slow
def test_postgres_stopped_under_make_api_answers_503_fast(outage_api: OutageApi) -> None:
    api = outage_api
    conversation_id = warm_the_pool(api)
    api.cluster.stop()

    health, health_took = timed(lambda: api.http.get("/api/health"), HEALTH_BOUND)
    chat, chat_took = timed(lambda: send(api.http, api.account, "Add task: Buy milk", conversation_id), CHAT_BOUND)
    print(f"\noutage: /api/health 503 in {health_took:.3f}s, /chat 503 in {chat_took:.3f}s")
    assert health.status_code == 503 and health_took < HEALTH_BOUND
    assert chat.status_code == 503 and chat.json()["error_code"] == "database_error" and chat_took < CHAT_BOUND


@pytest.mark.slow
def test_the_first_request_after_postgres_comes_back_succeeds(outage_api: OutageApi) -> None:
    api = outage_api
    conversation_id = warm_the_pool(api)
    api.cluster.stop()
    assert send(api.http, api.account, "Add task: Buy milk", conversation_id).status_code == 503
    api.cluster.start()

    back = send(api.http, api.account, "Add task: Buy milk", conversation_id)
    assert back.status_code == 200, back.text
    assert back.json()["messages"][-1]["content"].startswith("I've added task")


@pytest.mark.slow
def test_a_quick_postgres_restart_leaves_no_stale_connection_to_fail_on(outage_api: OutageApi) -> None:
    """No request during the restart, so every pooled connection is one the
    server closed: none of them may reach a request."""
    api = outage_api
    conversation_id = warm_the_pool(api)
    api.cluster.stop()
    api.cluster.start()

    statuses = [api.http.get("/api/health").status_code]
    statuses += [send(api.http, api.account, "what's left?", conversation_id).status_code for _ in range(10)]
    assert statuses == [200] * 11
