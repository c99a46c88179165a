"""Bad input is a 400 `invalid_request`, never a 5xx, on PostgreSQL and on
SQLite: NUL and unpaired surrogates in any string, integers beyond their
column, ids in any spelling but the documented one."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.support.api import Account, send


def post_raw(client: httpx.Client, path: str, raw: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """`raw` is JSON text written by hand, so it can hold `\\ud800` escapes."""
    return client.post(path, content=raw.encode(), headers={**(headers or {}), "Content-Type": "application/json"})


def assert_400(response: httpx.Response) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == "error" and body["error_code"] == "invalid_request"
    return body


def test_login_with_a_lone_surrogate_in_the_password_is_400(client: httpx.Client, alice: Account) -> None:
    raw = json.dumps({"email": alice.email, "password": "Correct-horse-9"})[:-2] + '\\ud800"}'
    assert_400(post_raw(client, "/api/auth/login", raw))


def test_register_with_a_lone_surrogate_in_the_password_is_400(client: httpx.Client) -> None:
    assert_400(post_raw(client, "/api/auth/register", '{"email": "s@example.com", "password": "Correct-horse-9\\udfff"}'))


def test_register_with_nul_in_the_email_is_400(client: httpx.Client) -> None:
    assert_400(post_raw(client, "/api/auth/register", '{"email": "n\\u0000ul@example.com", "password": "Correct-horse-9"}'))


def test_login_with_nul_in_the_password_is_400(client: httpx.Client, alice: Account) -> None:
    assert_400(post_raw(client, "/api/auth/login", f'{{"email": "{alice.email}", "password": "Correct\\u0000horse-9"}}'))


def test_chat_message_with_nul_is_400(client: httpx.Client, alice: Account) -> None:
    assert_400(post_raw(client, alice.chat_path(), '{"message": "hello\\u0000there"}', alice.headers))


def test_chat_message_with_a_lone_surrogate_is_400(client: httpx.Client, alice: Account) -> None:
    assert_400(post_raw(client, alice.chat_path(), '{"message": "hello \\ud83d there"}', alice.headers))


def test_paired_surrogates_are_an_ordinary_character(client: httpx.Client, alice: Account) -> None:
    response = post_raw(client, alice.chat_path(), '{"message": "hello \\ud83d\\ude00"}', alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["messages"][0]["content"] == "hello 😀"


def test_rename_with_nul_in_the_title_is_400(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    path = f"/api/{alice.user_id}/conversations/{conversation_id}"
    response = client.patch(path, content=b'{"title": "a\\u0000b"}', headers={**alice.headers, "Content-Type": "application/json"})
    assert_400(response)


def test_offset_beyond_any_integer_column_is_400(client: httpx.Client, alice: Account) -> None:
    assert_400(client.get(f"/api/{alice.user_id}/conversations?offset=99999999999999999999", headers=alice.headers))


def test_before_seq_beyond_32_bits_is_400(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    path = f"/api/{alice.user_id}/conversations/{conversation_id}?before_seq=2147483648"
    assert_400(client.get(path, headers=alice.headers))


def test_before_seq_at_the_32_bit_maximum_is_accepted(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    path = f"/api/{alice.user_id}/conversations/{conversation_id}?before_seq=2147483647"
    assert client.get(path, headers=alice.headers).status_code == 200


@pytest.mark.parametrize(
    "spell",
    [
        pytest.param(lambda u: "{" + str(u) + "}", id="braces"),
        pytest.param(lambda u: f"urn:uuid:{u}", id="urn"),
        pytest.param(lambda u: u.hex, id="no-hyphens"),
        pytest.param(lambda u: f" {u}", id="leading-space"),
    ],
)
def test_other_uuid_spellings_are_400_everywhere(client: httpx.Client, alice: Account, spell) -> None:  # type: ignore[no-untyped-def]
    conversation_id = uuid.UUID(send(client, alice, "hello").json()["conversation_id"])
    user = spell(uuid.UUID(alice.user_id))
    assert_400(client.get(f"/api/{user}/conversations", headers=alice.headers))
    assert_400(client.get(f"/api/{alice.user_id}/conversations/{spell(conversation_id)}", headers=alice.headers))
    assert_400(client.post(alice.chat_path(), headers=alice.headers, json={"message": "hi", "conversation_id": spell(conversation_id)}))


def test_the_canonical_uuid_form_is_accepted_in_either_case(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    upper = f"/api/{alice.user_id.upper()}/conversations/{conversation_id.upper()}"
    assert client.get(upper, headers=alice.headers).json()["conversation"]["id"] == conversation_id
    again = send(client, alice, "again", conversation_id.upper())
    assert again.status_code == 200 and again.json()["conversation_id"] == conversation_id


def test_openapi_states_uuid_formats_lengths_and_integer_bounds(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["ChatRequest"]["properties"]["message"]["maxLength"] == 5000
    assert {"format": "uuid"}.items() <= schemas["ChatRequest"]["properties"]["conversation_id"]["anyOf"][0].items()
    assert schemas["Credentials"]["properties"]["password"]["maxLength"] == 256
    assert schemas["RenameRequest"]["properties"]["title"]["maxLength"] == 200
    detail = document["paths"]["/api/{user_id}/conversations/{conversation_id}"]["get"]["parameters"]
    by_name = {parameter["name"]: parameter["schema"] for parameter in detail}
    assert by_name["user_id"]["format"] == by_name["conversation_id"]["format"] == "uuid"
    assert by_name["before_seq"]["anyOf"][0]["maximum"] == 2**31 - 1
