"""Every error the chat endpoint documents, each in the one error shape, and
none of them losing what was already stored."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest
from sqlalchemy import Engine

from chatapp.config import get_settings
from tests.support.api import Account, LiveApi, assert_error, register, send, serve, stored_messages

@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"message": "hi"', id="malformed-json"),
        pytest.param(b'["hi"]', id="array-body"),
        pytest.param(b'"hi"', id="string-body"),
        pytest.param(b"{}", id="missing-message"),
        pytest.param(b'{"message": ""}', id="empty-message"),
        pytest.param(b'{"message": "   \\n\\t "}', id="whitespace-message"),
        pytest.param(b'{"message": 42}', id="number-message"),
        pytest.param(b'{"message": "hi", "conversation_id": "not-a-uuid"}', id="bad-conversation-id"),
        pytest.param(b'{"message": "hi", "extra": true}', id="unknown-field"),
    ],
)
def test_invalid_requests_are_400(client: httpx.Client, alice: Account, payload: bytes) -> None:
    response = client.post(
        alice.chat_path(), content=payload, headers={**alice.headers, "Content-Type": "application/json"}
    )
    body = assert_error(response, 400, "invalid_request")
    assert body["conversation_id"] is None


def test_message_of_5000_code_points_is_accepted_and_5001_is_not(client: httpx.Client, alice: Account) -> None:
    assert send(client, alice, "é" * 5000).status_code == 200
    assert_error(send(client, alice, "😀" * 5001), 400, "invalid_request")


def test_non_uuid_user_id_is_400(client: httpx.Client, alice: Account) -> None:
    response = client.post("/api/not-a-uuid/chat", headers=alice.headers, json={"message": "hi"})
    assert_error(response, 400, "invalid_request")


def test_invalid_request_on_an_existing_conversation_keeps_it(client: httpx.Client, alice: Account, engine: Engine) -> None:
    conversation_id = send(client, alice, "add buy milk").json()["conversation_id"]
    assert_error(send(client, alice, " ", conversation_id), 400, "invalid_request")
    assert len(stored_messages(engine, conversation_id)) == 2


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-token"),
        pytest.param("Bearer", id="empty-bearer"),
        pytest.param("Token abc", id="wrong-scheme"),
        pytest.param("Bearer not.a.jwt", id="malformed"),
    ],
)
def test_missing_or_malformed_tokens_are_401(client: httpx.Client, alice: Account, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    assert_error(client.post(alice.chat_path(), headers=headers, json={"message": "hi"}), 401, "invalid_auth")


def token_for(user_id: str, *, key: str | None = None, algorithm: str = "HS256", exp_offset: int = 600) -> str:
    claims = {"sub": user_id, "exp": int(time.time()) + exp_offset}
    return jwt.encode(claims, key or get_settings().jwt_signing_key, algorithm=algorithm)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda uid: token_for(uid, key="another-secret-of-sufficient-length-1234"), id="bad-signature"),
        pytest.param(lambda uid: token_for(uid, exp_offset=-5), id="expired"),
        pytest.param(lambda uid: token_for(uid, algorithm="HS512"), id="other-algorithm"),
        pytest.param(lambda uid: jwt.encode({"sub": uid, "exp": int(time.time()) + 600}, None, algorithm="none"), id="alg-none"),
        pytest.param(lambda uid: jwt.encode({"sub": uid}, get_settings().jwt_signing_key, algorithm="HS256"), id="no-exp"),
    ],
)
def test_untrustworthy_tokens_are_401(client: httpx.Client, alice: Account, make_token) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {make_token(alice.user_id)}"}
    assert_error(client.post(alice.chat_path(), headers=headers, json={"message": "hi"}), 401, "invalid_auth")


def test_token_of_an_unknown_user_is_401(client: httpx.Client) -> None:
    ghost = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {token_for(ghost)}"}
    assert_error(client.post(f"/api/{ghost}/chat", headers=headers, json={"message": "hi"}), 401, "invalid_auth")
    other = client.post(f"/api/{ghost}/chat", headers=headers, json={"message": "hi", "conversation_id": str(uuid.uuid4())})
    assert_error(other, 401, "invalid_auth")


def test_someone_elses_user_id_in_the_path_is_403(client: httpx.Client, alice: Account, bob: Account) -> None:
    response = client.post(f"/api/{bob.user_id}/chat", headers=alice.headers, json={"message": "hi"})
    assert_error(response, 403, "forbidden")


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def failing_api(engine: Engine, closed_port: int) -> Iterator[LiveApi]:
    """The model provider refuses connections: a real failure of the agent."""
    yield from serve(engine, openai_base_url=f"http://127.0.0.1:{closed_port}/v1")


def stored_lifecycle(http: httpx.Client, account: Account, conversation_id: str) -> list[tuple]:
    page = http.get(f"/api/{account.user_id}/conversations/{conversation_id}", headers=account.headers).json()
    return [(m["seq"], m["role"], m["status"], m["error_code"]) for m in page["messages"]]


def test_agent_failure_is_500_and_stores_a_failed_answer(failing_api: LiveApi, engine: Engine) -> None:
    with httpx.Client(base_url=failing_api.base_url, timeout=60) as http:
        account = register(http)
        body = assert_error(send(http, account, "Add task: Buy groceries"), 500, "agent_error")
        assert body["conversation_id"]
        assert stored_messages(engine, body["conversation_id"]) == [(1, "user", "Add task: Buy groceries"), (2, "assistant", "")]
        assert stored_lifecycle(http, account, body["conversation_id"]) == [
            (1, "user", "complete", None), (2, "assistant", "failed", "agent_error")
        ]


def test_conversation_goes_on_after_an_agent_failure(failing_api: LiveApi, engine: Engine) -> None:
    with httpx.Client(base_url=failing_api.base_url, timeout=60) as http:
        account = register(http)
        conversation_id = send(http, account, "hello").json()["conversation_id"]
        token = account.token
    for api in serve(engine):  # the provider is back
        with httpx.Client(base_url=api.base_url, timeout=60) as http:
            healthy = Account(account.user_id, token, account.email)
            body = send(http, healthy, "Add task: Buy groceries", conversation_id).json()
            assert body["status"] == "success"
            assert [(m["seq"], m["status"]) for m in body["messages"]] == [
                (1, "complete"), (2, "failed"), (3, "complete"), (4, "complete")
            ]
            assert body["messages"][-1]["content"] == "I've added task 1: Buy groceries."
            assert body["messages"][-1]["reply_to"] == body["messages"][2]["id"]


def test_agent_beyond_its_time_limit_is_500_timeout(engine: Engine, hanging_provider: int) -> None:
    for api in serve(engine, openai_base_url=f"http://127.0.0.1:{hanging_provider}/v1", turn_timeout_seconds=1.0):
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            account = register(http)
            started = time.monotonic()
            body = assert_error(send(http, account, "what's left?"), 500, "timeout")
            assert time.monotonic() - started < 10
            assert stored_lifecycle(http, account, body["conversation_id"]) == [
                (1, "user", "complete", None), (2, "assistant", "failed", "timeout")
            ]
