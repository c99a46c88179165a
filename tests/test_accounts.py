"""Accounts people manage: sign out everywhere, change the password, delete
the account, export everything — over REST, on SQLite and PostgreSQL, with
the MCP server and the per-turn tool tokens covered by the same revocation."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import Iterator

import httpx
import jwt
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

from chatapp.db import Conversation, IdempotencyKey, Message, Task, ToolCall, User
from chatapp.services import account_export
from chatapp.services.auth import authenticate, issue_tool_token
from chatapp.services.errors import InvalidAuth
from chatapp.services.turns import tool_token
from tests.support.api import Account, LiveApi, assert_error, register, send, serve
from tests.support.mcp_client import INITIALIZE, MCP_HEADERS
from tests.support.streams import LONG, serve_paced, start_stream

PASSWORD = "Correct-horse-9"
NEW_PASSWORD = "Battery-staple-7"
SLOW_MS = 400  # the offline model's pause between words, for a turn still running when the account goes


def revoke(client: httpx.Client, account: Account) -> httpx.Response:
    return client.post(f"/api/{account.user_id}/sessions/revoke", headers=account.headers)


def change_password(client: httpx.Client, account: Account, current: str, new: str) -> httpx.Response:
    return client.post(f"/api/{account.user_id}/password", headers=account.headers,
                       json={"current_password": current, "new_password": new})


def delete_account(client: httpx.Client, account: Account, password: str) -> httpx.Response:
    return client.request("DELETE", f"/api/{account.user_id}", headers=account.headers, json={"password": password})


def conversations_status(client: httpx.Client, account: Account, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token or account.token}"}
    return client.get(f"/api/{account.user_id}/conversations", headers=headers).status_code


def mcp_status(api: LiveApi, token: str) -> int:
    return httpx.post(f"{api.base_url}/mcp", json=INITIALIZE,
                      headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}).status_code


def login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/api/auth/login", json={"email": email, "password": password})


# ---- sign out everywhere ---------------------------------------------------------------

def test_revoke_answers_204_and_the_token_is_then_refused_on_rest(client: httpx.Client, alice: Account) -> None:
    assert revoke(client, alice).status_code == 204
    response = client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers)
    assert_error(response, 401, "invalid_auth")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_revoke_covers_every_token_issued_so_far(client: httpx.Client, alice: Account) -> None:
    other_device = login(client, alice.email, PASSWORD).json()["access_token"]
    assert revoke(client, alice).status_code == 204
    assert conversations_status(client, alice, other_device) == 401


def test_a_revoked_token_cannot_start_a_chat_turn_and_nothing_is_stored(client: httpx.Client, alice: Account, engine: Engine) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    revoke(client, alice)
    assert_error(send(client, alice, "new conversation"), 401, "invalid_auth")
    assert_error(send(client, alice, "same conversation", conversation_id), 401, "invalid_auth")
    stream = client.post(f"{alice.chat_path()}/stream", headers=alice.headers, json={"message": "streamed"})
    assert_error(stream, 401, "invalid_auth")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Message)).scalar() == 2


def test_a_revoked_token_cannot_replay_an_idempotent_turn(client: httpx.Client, alice: Account) -> None:
    headers = {**alice.headers, "Idempotency-Key": "k-1"}
    assert client.post(alice.chat_path(), headers=headers, json={"message": "hello"}).status_code == 200
    revoke(client, alice)
    assert_error(client.post(alice.chat_path(), headers=headers, json={"message": "hello"}), 401, "invalid_auth")


def test_a_revoked_token_cannot_retry_or_regenerate(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    revoke(client, alice)
    path = f"/api/{alice.user_id}/conversations/{conversation_id}"
    assert_error(client.post(f"{path}/regenerate", headers=alice.headers), 401, "invalid_auth")
    assert_error(client.post(f"{path}/retry", headers=alice.headers), 401, "invalid_auth")


def test_a_revoked_token_is_refused_by_the_mcp_server(live_api: LiveApi, client: httpx.Client, alice: Account) -> None:
    assert mcp_status(live_api, alice.token) == 200
    revoke(client, alice)
    assert mcp_status(live_api, alice.token) == 401


def test_a_per_turn_tool_token_issued_before_revoke_is_refused_by_mcp(live_api: LiveApi, client: httpx.Client, alice: Account) -> None:
    before = issue_tool_token(uuid.UUID(alice.user_id), live_api.settings, 60, token_version=0)
    assert mcp_status(live_api, before) == 200
    revoke(client, alice)
    assert mcp_status(live_api, before) == 401


def test_the_turns_tool_token_carries_the_version_of_the_token_that_started_it(live_api: LiveApi) -> None:
    token = tool_token(uuid.uuid4(), live_api.settings, 7)
    assert jwt.decode(token, options={"verify_signature": False})["ver"] == 7


def test_a_revoked_token_is_refused_by_the_web_uis_check(
    live_api: LiveApi, client: httpx.Client, alice: Account, engine: Engine
) -> None:
    assert str(authenticate(engine, alice.token, live_api.settings)) == alice.user_id
    revoke(client, alice)
    with pytest.raises(InvalidAuth):
        authenticate(engine, alice.token, live_api.settings)


def test_revoke_is_refused_for_a_token_already_revoked(client: httpx.Client, alice: Account) -> None:
    revoke(client, alice)
    assert_error(revoke(client, alice), 401, "invalid_auth")


def test_signing_in_after_revoke_gives_a_working_token_that_chats_with_tools(client: httpx.Client, alice: Account) -> None:
    revoke(client, alice)
    fresh = Account(alice.user_id, login(client, alice.email, PASSWORD).json()["access_token"], alice.email)
    reply = send(client, fresh, "Add task: Buy milk")
    assert reply.status_code == 200, reply.text
    assert reply.json()["messages"][-1]["tool_calls"][0]["result"]["status"] == "created"


def test_revoking_one_user_leaves_another_signed_in(client: httpx.Client, alice: Account, bob: Account) -> None:
    revoke(client, alice)
    assert conversations_status(client, bob) == 200


def test_revoking_someone_elses_sessions_is_403(client: httpx.Client, alice: Account, bob: Account) -> None:
    response = client.post(f"/api/{bob.user_id}/sessions/revoke", headers=alice.headers)
    assert_error(response, 403, "forbidden")
    assert conversations_status(client, bob) == 200


def test_tokens_without_a_version_claim_still_work_until_the_first_revoke(live_api: LiveApi, client: httpx.Client, alice: Account) -> None:
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    del claims["ver"]  # as issued before accounts existed
    old = jwt.encode(claims, live_api.settings.jwt_signing_key, algorithm="HS256")
    assert conversations_status(client, alice, old) == 200
    revoke(client, alice)
    assert conversations_status(client, alice, old) == 401


# ---- change password ---------------------------------------------------------------------

def test_changing_the_password_returns_a_fresh_token_and_revokes_the_old_ones(live_api: LiveApi, client: httpx.Client, alice: Account) -> None:
    other_device = login(client, alice.email, PASSWORD).json()["access_token"]
    response = change_password(client, alice, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == alice.user_id and body["token_type"] == "bearer"
    assert conversations_status(client, alice, body["access_token"]) == 200
    for old in (alice.token, other_device):
        assert conversations_status(client, alice, old) == 401
        assert mcp_status(live_api, old) == 401
    assert mcp_status(live_api, body["access_token"]) == 200


def test_after_a_password_change_only_the_new_password_signs_in(client: httpx.Client, alice: Account) -> None:
    change_password(client, alice, PASSWORD, NEW_PASSWORD)
    assert_error(login(client, alice.email, PASSWORD), 401, "invalid_auth")
    assert login(client, alice.email, NEW_PASSWORD).status_code == 200


def test_a_wrong_current_password_is_403_and_changes_nothing(client: httpx.Client, alice: Account) -> None:
    assert_error(change_password(client, alice, "Not-my-password-1", NEW_PASSWORD), 403, "forbidden")
    assert conversations_status(client, alice) == 200
    assert login(client, alice.email, PASSWORD).status_code == 200


@pytest.mark.parametrize("weak", ["short1A", "onlylowercaseletters", "1234567890"])
def test_a_new_password_follows_the_sign_up_rules(client: httpx.Client, alice: Account, weak: str) -> None:
    assert_error(change_password(client, alice, PASSWORD, weak), 400, "invalid_request")
    assert conversations_status(client, alice) == 200


def test_a_password_change_with_unknown_fields_is_400(client: httpx.Client, alice: Account) -> None:
    response = client.post(f"/api/{alice.user_id}/password", headers=alice.headers,
                           json={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "email": "x@example.com"})
    assert_error(response, 400, "invalid_request")


def test_checking_the_current_password_is_rate_limited_like_sign_in(engine: Engine) -> None:
    for api in serve(engine, rate_limit_login_per_email="2/minute"):
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            account = register(client)
            for _ in range(2):
                assert change_password(client, account, "Wrong-password-1", NEW_PASSWORD).status_code == 403
            limited = change_password(client, account, PASSWORD, NEW_PASSWORD)
            assert_error(limited, 429, "rate_limited")
            assert int(limited.headers["retry-after"]) >= 1
            assert_error(login(client, account.email, PASSWORD), 429, "rate_limited")  # the same budget


# ---- delete the account ------------------------------------------------------------------

def user_rows(engine: Engine, user_id: uuid.UUID, conversation_ids: list[uuid.UUID], message_ids: list[uuid.UUID]) -> dict[str, int]:
    """Rows of the user in every table; a table added later fails here until
    it is counted (and deleted with the account)."""
    counted = {
        "users": select(func.count()).select_from(User).where(User.id == user_id),
        "conversations": select(func.count()).select_from(Conversation).where(
            (Conversation.user_id == user_id) | Conversation.id.in_(conversation_ids)),
        "messages": select(func.count()).select_from(Message).where(
            Message.conversation_id.in_(conversation_ids) | Message.id.in_(message_ids)),
        "tool_calls": select(func.count()).select_from(ToolCall).where(ToolCall.message_id.in_(message_ids)),
        "tasks": select(func.count()).select_from(Task).where(Task.user_id == user_id),
        "idempotency_keys": select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.user_id == user_id),
    }
    assert set(counted) == set(SQLModel.metadata.tables), "count the new table's rows of the user here"
    with engine.connect() as connection:
        return {table: connection.execute(query).scalar() or 0 for table, query in counted.items()}


def fill_account(client: httpx.Client, account: Account) -> None:
    first = send(client, account, "Add task: Buy milk").json()["conversation_id"]
    send(client, account, "what's left?", first)
    client.post(account.chat_path(), headers={**account.headers, "Idempotency-Key": "key-1"},
                json={"message": "Add task: Call mum"})


def ids_of(engine: Engine, user_id: str) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    with engine.connect() as connection:
        conversations = list(connection.execute(
            select(Conversation.id).where(Conversation.user_id == uuid.UUID(user_id))).scalars())
        messages = list(connection.execute(
            select(Message.id).where(Message.conversation_id.in_(conversations))).scalars())
    return conversations, messages


def test_deleting_the_account_leaves_no_row_of_the_user_in_any_table(client: httpx.Client, alice: Account, engine: Engine) -> None:
    fill_account(client, alice)
    conversations, messages = ids_of(engine, alice.user_id)
    before = user_rows(engine, uuid.UUID(alice.user_id), conversations, messages)
    assert all(before.values()), before  # every table had something to delete
    assert delete_account(client, alice, PASSWORD).status_code == 204
    assert user_rows(engine, uuid.UUID(alice.user_id), conversations, messages) == dict.fromkeys(before, 0)


def test_deleting_one_account_leaves_another_untouched(client: httpx.Client, alice: Account, bob: Account, engine: Engine) -> None:
    fill_account(client, alice)
    fill_account(client, bob)
    conversations, messages = ids_of(engine, bob.user_id)
    before = user_rows(engine, uuid.UUID(bob.user_id), conversations, messages)
    delete_account(client, alice, PASSWORD)
    assert user_rows(engine, uuid.UUID(bob.user_id), conversations, messages) == before
    assert conversations_status(client, bob) == 200


def test_a_deleted_users_tokens_stop_working_everywhere(live_api: LiveApi, client: httpx.Client, alice: Account) -> None:
    tool = issue_tool_token(uuid.UUID(alice.user_id), live_api.settings, 60)
    delete_account(client, alice, PASSWORD)
    assert_error(client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers), 401, "invalid_auth")
    assert_error(send(client, alice, "hello"), 401, "invalid_auth")
    assert mcp_status(live_api, alice.token) == 401
    assert mcp_status(live_api, tool) == 401
    assert_error(login(client, alice.email, PASSWORD), 401, "invalid_auth")


def test_deleting_needs_the_right_password_and_keeps_everything_otherwise(client: httpx.Client, alice: Account, engine: Engine) -> None:
    fill_account(client, alice)
    conversations, messages = ids_of(engine, alice.user_id)
    before = user_rows(engine, uuid.UUID(alice.user_id), conversations, messages)
    assert_error(delete_account(client, alice, "Not-my-password-1"), 403, "forbidden")
    assert_error(client.request("DELETE", f"/api/{alice.user_id}", headers=alice.headers), 400, "invalid_request")
    assert user_rows(engine, uuid.UUID(alice.user_id), conversations, messages) == before


def test_deleting_someone_elses_account_is_403(client: httpx.Client, alice: Account, bob: Account) -> None:
    response = client.request("DELETE", f"/api/{bob.user_id}", headers=alice.headers, json={"password": PASSWORD})
    assert_error(response, 403, "forbidden")
    assert conversations_status(client, bob) == 200


def test_the_email_of_a_deleted_account_can_sign_up_again(client: httpx.Client, alice: Account) -> None:
    delete_account(client, alice, PASSWORD)
    again = client.post("/api/auth/register", json={"email": alice.email, "password": PASSWORD})
    assert again.status_code == 201 and again.json()["user_id"] != alice.user_id


@pytest.fixture(params=["memory", "redis"])
def paced_api(request: pytest.FixtureRequest, engine: Engine) -> Iterator[LiveApi]:
    # Slow enough that checking the password (argon2, on a busy machine)
    # surely lands mid-reply.
    yield from serve_paced(request, engine, SLOW_MS)


def test_a_turn_in_flight_ends_as_failed_when_its_account_is_deleted(paced_api: LiveApi) -> None:
    with httpx.Client(base_url=paced_api.base_url, timeout=60) as http:
        carol = register(http)
        live = start_stream(http, carol, LONG)
        live.wait_for("text_delta")
        assert delete_account(http, carol, PASSWORD).status_code == 204
        events = live.finish()
    name, data = events[-1]
    assert name == "error" and data["status"] == "error"
    assert "done" not in live.names()


# ---- export --------------------------------------------------------------------------------

def export(client: httpx.Client, account: Account) -> zipfile.ZipFile:
    response = client.get(f"/api/{account.user_id}/export", headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    return zipfile.ZipFile(io.BytesIO(response.content))


def read_json(archive: zipfile.ZipFile, name: str) -> dict:
    return json.loads(archive.read(name))


def test_the_export_round_trips_what_the_api_shows(client: httpx.Client, alice: Account) -> None:
    fill_account(client, alice)
    archive = export(client, alice)
    assert archive.testzip() is None
    account = read_json(archive, "account.json")
    assert account["format"] == account_export.ACCOUNT_FORMAT
    assert account["account"]["email"] == alice.email and account["account"]["user_id"] == alice.user_id
    assert account["account"]["created_at"].endswith("Z")
    listed = client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers).json()["conversations"]
    names = sorted(name for name in archive.namelist() if name.startswith("conversations/"))
    assert names == sorted(f"conversations/{row['id']}.json" for row in listed)
    for row in listed:
        exported = read_json(archive, f"conversations/{row['id']}.json")
        shown = client.get(f"/api/{alice.user_id}/conversations/{row['id']}", headers=alice.headers).json()
        assert exported["format"] == account_export.CONVERSATION_FORMAT
        assert exported["conversation"] == shown["conversation"]
        assert exported["messages"] == shown["messages"]
    tasks = read_json(archive, "tasks.json")
    shown_tasks = client.get(f"/api/{alice.user_id}/tasks", headers=alice.headers).json()["tasks"]
    assert tasks["format"] == account_export.TASKS_FORMAT
    assert [{key: task[key] for key in ("task_id", "title", "description", "completed")} for task in tasks["tasks"]] == shown_tasks
    assert [task["title"] for task in tasks["tasks"]] == ["Buy milk", "Call mum"]


def test_the_export_holds_only_the_users_own_data(client: httpx.Client, alice: Account, bob: Account) -> None:
    fill_account(client, bob)
    send(client, alice, "hello")
    archive = export(client, alice)
    assert len([name for name in archive.namelist() if name.startswith("conversations/")]) == 1
    assert read_json(archive, "tasks.json")["tasks"] == []
    assert bob.email.encode() not in b"".join(archive.read(name) for name in archive.namelist())


def test_an_empty_account_exports_its_account_and_empty_tasks(client: httpx.Client, alice: Account) -> None:
    archive = export(client, alice)
    assert sorted(archive.namelist()) == ["account.json", "tasks.json"]


def test_exporting_someone_elses_account_is_403(client: httpx.Client, alice: Account, bob: Account) -> None:
    assert_error(client.get(f"/api/{bob.user_id}/export", headers=alice.headers), 403, "forbidden")


def test_the_export_is_streamed_page_by_page_and_pages_add_up(client: httpx.Client, alice: Account, engine: Engine,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny pages, so a small account crosses many page boundaries: the zip
    arrives in pieces (at least one per entry, as each is finished) and
    still holds every message exactly once, in order."""
    first = send(client, alice, "Add task: Buy milk").json()["conversation_id"]
    for message in ("what's left?", "hello", "Add task: Call mum"):
        send(client, alice, message, first)
    send(client, alice, "hello")
    monkeypatch.setattr(account_export, "MESSAGES_PER_PAGE", 3)
    monkeypatch.setattr(account_export, "CONVERSATIONS_PER_PAGE", 1)
    monkeypatch.setattr(account_export, "TASKS_PER_PAGE", 1)
    user_id = uuid.UUID(alice.user_id)

    async def pieces() -> list[bytes]:
        account = account_export.read_account(engine, user_id)
        return [piece async for piece in account_export.export_zip(engine, user_id, account)]

    chunks = asyncio.run(pieces())
    assert len(chunks) >= 5  # account, two conversations, tasks, the central directory
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    exported = read_json(archive, f"conversations/{first}.json")
    assert [message["seq"] for message in exported["messages"]] == list(range(1, 9))
    assert len([name for name in archive.namelist() if name.startswith("conversations/")]) == 2
    assert [task["task_id"] for task in read_json(archive, "tasks.json")["tasks"]] == [1, 2]
