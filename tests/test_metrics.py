"""`GET /metrics` after real turns (plain, tool, failed, stopped) on SQLite
and PostgreSQL: each turn counted once by outcome, with its latency, first
event, tool calls and streamed tokens; HTTP errors by status and code; the
endpoint answered only where the operator allows it.

One process here, so the counters are the process's own and grow across
tests: every test compares a scrape after with a scrape before."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from chatapp.services.tokens import count_tokens
from tests.support.api import Account, LiveApi, register, send, serve
from tests.support.metrics import Samples, scrape, value
from tests.support.streams import LONG, PACED_MS, start_stream, turn_path

def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def paced_api(engine: Engine) -> Iterator[LiveApi]:
    yield from serve(engine, offline_stream_delay_ms=PACED_MS)


# ---- turns -----------------------------------------------------------------------

def test_a_plain_turn_counts_one_complete_turn(client: httpx.Client, alice: Account) -> None:
    before = scrape(client)
    assert send(client, alice, "hello there").status_code == 200
    after = scrape(client)
    assert grew(before, after, "chatapp_turns_total", outcome="complete") == 1
    assert grew(before, after, "chatapp_turns_total", outcome="failed") == 0
    assert grew(before, after, "chatapp_turn_seconds_count", outcome="complete") == 1
    assert grew(before, after, "chatapp_turn_seconds_sum", outcome="complete") > 0
    assert grew(before, after, "chatapp_turn_first_event_seconds_count") == 1


def test_a_turn_counts_the_tokens_of_its_reply_once(client: httpx.Client, alice: Account) -> None:
    before = scrape(client)
    reply = send(client, alice, "hello there").json()["messages"][-1]["content"]
    after = scrape(client)
    assert grew(before, after, "chatapp_streamed_tokens_total") == count_tokens(reply) > 0


def test_a_tool_turn_counts_its_tool_call_by_name(client: httpx.Client, alice: Account) -> None:
    before = scrape(client)
    response = send(client, alice, "Add task: Buy groceries")
    assert response.json()["messages"][-1]["tool_calls"][0]["tool_name"] == "add_task"
    after = scrape(client)
    assert grew(before, after, "chatapp_tool_calls_total", tool="add_task") == 1
    assert grew(before, after, "chatapp_tool_calls_total", tool="list_tasks") == 0
    assert grew(before, after, "chatapp_turns_total", outcome="complete") == 1


def test_a_failed_turn_counts_as_failed_with_its_error_code(engine: Engine) -> None:
    with socket.socket() as probe:  # a port nothing listens on: the provider is unreachable
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for api in serve(engine, openai_base_url=f"http://127.0.0.1:{closed}/v1"):
        with httpx.Client(base_url=api.base_url, timeout=60) as http:
            account = register(http)
            before = scrape(http)
            assert send(http, account, "hello").status_code == 500
            after = scrape(http)
    assert grew(before, after, "chatapp_turns_total", outcome="failed") == 1
    assert grew(before, after, "chatapp_turns_total", outcome="complete") == 0
    assert grew(before, after, "chatapp_turn_errors_total", code="agent_error") == 1
    assert grew(before, after, "chatapp_turn_seconds_count", outcome="failed") == 1
    assert grew(before, after, "chatapp_http_errors_total", status="500", code="agent_error") == 1


def test_a_stopped_turn_counts_as_stopped_with_the_tokens_it_kept(http: httpx.Client) -> None:
    account = register(http)
    before = scrape(http)
    live = start_stream(http, account, LONG)
    live.wait_for("text_delta", 2)
    conversation_id = live.events[0][1]["conversation_id"]
    assert http.post(turn_path(account, conversation_id, "stop"), headers=account.headers).status_code == 202
    answer = live.finish()[-1][1]["messages"][-1]
    after = scrape(http)
    assert answer["status"] == "stopped"
    assert grew(before, after, "chatapp_turns_total", outcome="stopped") == 1
    assert grew(before, after, "chatapp_turns_total", outcome="complete") == 0
    assert grew(before, after, "chatapp_streamed_tokens_total") == count_tokens(answer["content"])


def test_a_running_turn_is_in_flight_until_it_ends(http: httpx.Client) -> None:
    account = register(http)
    assert value(scrape(http), "chatapp_turns_in_flight") == 0
    live = start_stream(http, account, LONG)
    live.wait_for("text_delta")
    assert value(scrape(http), "chatapp_turns_in_flight") == 1
    assert live.finish()[-1][0] == "done"
    assert value(scrape(http), "chatapp_turns_in_flight") == 0


def test_an_idempotent_replay_is_not_counted_as_another_turn(client: httpx.Client, alice: Account) -> None:
    headers = {**alice.headers, "Idempotency-Key": "metrics-replay-1"}
    before = scrape(client)
    for _ in range(2):
        assert client.post(alice.chat_path(), headers=headers, json={"message": "hello there"}).status_code == 200
    after = scrape(client)
    assert grew(before, after, "chatapp_turns_total", outcome="complete") == 1


# ---- HTTP errors ----------------------------------------------------------------------

def test_http_errors_are_counted_by_status_and_error_code(client: httpx.Client, alice: Account) -> None:
    before = scrape(client)
    assert client.get("/api/no-such-route").status_code == 404
    assert client.post(alice.chat_path(), json={"message": "hi"}).status_code == 401
    assert client.post(alice.chat_path(), headers=alice.headers, json={"message": ""}).status_code == 400
    after = scrape(client)
    assert grew(before, after, "chatapp_http_errors_total", status="404", code="not_found") == 1
    assert grew(before, after, "chatapp_http_errors_total", status="401", code="invalid_auth") == 1
    assert grew(before, after, "chatapp_http_errors_total", status="400", code="invalid_request") == 1


def test_an_error_outside_the_error_shape_is_counted_with_code_none(client: httpx.Client) -> None:
    before = scrape(client)
    assert client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status_code == 401
    after = scrape(client)
    assert grew(before, after, "chatapp_http_errors_total", status="401", code="none") == 1


# ---- who may scrape ----------------------------------------------------------------------

def test_metrics_answer_404_when_disabled(engine: Engine) -> None:
    for api in serve(engine, metrics_enabled=False):
        response = httpx.get(f"{api.base_url}/metrics")
    assert response.status_code == 404
    assert response.json()["error_code"] == "not_found"


def test_metrics_answer_404_to_a_client_outside_the_allowed_networks(engine: Engine) -> None:
    for api in serve(engine, metrics_allowed_networks="10.0.0.0/8"):
        response = httpx.get(f"{api.base_url}/metrics")
    assert response.status_code == 404


def test_a_forwarded_for_header_is_not_believed_from_an_untrusted_peer(engine: Engine) -> None:
    for api in serve(engine, metrics_allowed_networks="10.0.0.0/8"):
        response = httpx.get(f"{api.base_url}/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert response.status_code == 404


def test_a_trusted_proxy_passes_on_an_allowed_client(engine: Engine) -> None:
    for api in serve(engine, metrics_allowed_networks="10.0.0.0/8", trusted_proxies="127.0.0.1"):
        allowed = httpx.get(f"{api.base_url}/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
        outside = httpx.get(f"{api.base_url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert allowed.status_code == 200 and "chatapp_turns_total" in allowed.text
    assert outside.status_code == 404


def test_metrics_appear_in_the_openapi_document(client: httpx.Client) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]
    assert set(operation["responses"]) == {"200", "404"}
    assert "text/plain" in operation["responses"]["200"]["content"]
