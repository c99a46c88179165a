"""Search across conversations: GET /api/{user_id}/search on the databases'
own full-text indexes (PostgreSQL tsvector + GIN, SQLite FTS5), run on both."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy import insert as sa_insert

from chatapp.db import Conversation, Message, User
from chatapp.db.types import utcnow
from chatapp.services.search import search_messages
from tests.support.api import Account, send


def search(client: httpx.Client, account: Account, q: str, **params: Any) -> httpx.Response:
    return client.get(f"/api/{account.user_id}/search", params={"q": q, **params}, headers=account.headers)


def hits(client: httpx.Client, account: Account, q: str, **params: Any) -> list[dict[str, Any]]:
    response = search(client, account, q, **params)
    assert response.status_code == 200, response.text
    return response.json()["hits"]


def marked(hit: dict[str, Any]) -> list[str]:
    return [part["text"] for part in hit["snippet"] if part["match"]]


def snippet_text(hit: dict[str, Any]) -> str:
    return "".join(part["text"] for part in hit["snippet"])


def test_a_hit_names_its_conversation_and_message_and_marks_the_match(client: httpx.Client, alice: Account) -> None:
    chat = send(client, alice, "Remember that the plumber comes on Tuesday").json()
    found = hits(client, alice, "plumber")
    user_message = chat["messages"][0]
    assert len(found) == 1
    hit = found[0]
    assert hit["conversation_id"] == chat["conversation_id"]
    assert hit["conversation_title"] == "Remember that the plumber comes on Tuesday"
    assert (hit["message_id"], hit["role"], hit["seq"], hit["created_at"]) == (
        user_message["id"], "user", 1, user_message["created_at"])
    assert marked(hit) == ["plumber"]
    assert snippet_text(hit) == "Remember that the plumber comes on Tuesday"


def test_the_assistants_answers_are_searched_too(client: httpx.Client, alice: Account) -> None:
    answer = send(client, alice, "Add task: Buy oat milk").json()["messages"][1]
    found = hits(client, alice, "added")
    assert [(hit["message_id"], hit["role"]) for hit in found] == [(answer["id"], "assistant")]


def test_matching_ignores_case(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "Call the DENTIST tomorrow")
    found = hits(client, alice, "Dentist")
    assert len(found) == 1 and marked(found[0]) == ["DENTIST"]


def test_a_quoted_phrase_matches_only_the_words_in_that_order(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "I need fresh sourdough bread today")
    send(client, alice, "Sourdough starter is fresh, bread later")
    found = hits(client, alice, '"fresh sourdough bread"')
    assert [snippet_text(hit) for hit in found] == ["I need fresh sourdough bread today"]
    assert marked(found[0]) == ["fresh sourdough bread"]
    assert len(hits(client, alice, "fresh sourdough bread")) == 2  # unquoted: every word, anywhere


def test_a_prefix_matches_the_words_it_starts(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "Camping for the weekend")
    send(client, alice, "The campfire was warm")
    send(client, alice, "A new camera")
    found = hits(client, alice, "camp*")
    assert sorted(marked(hit)[0] for hit in found) == ["Camping", "campfire"]


def test_a_prefix_shorter_than_three_characters_is_a_whole_word(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "go to the gym")
    send(client, alice, "good morning")
    assert [snippet_text(hit) for hit in hits(client, alice, "go*")] == ["go to the gym"]


def test_every_word_must_match(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "paint the fence red")
    send(client, alice, "paint the door blue")
    assert [snippet_text(hit) for hit in hits(client, alice, "paint blue")] == ["paint the door blue"]


SYNTAX = [
    '"buy oat', 'oat"', '"', '""', '"""', "*", "**", "oat*milk", "NOT oat", "oat AND OR NOT", "oat -milk",
    "oat:milk", "(oat", "oat)", "oat^2", "NEAR(oat milk)", "o'at", "oat\\", "'", "&|!<->", "{oat}", "oat:*",
    "oat~", "%_", "💥", "ＯＡＴ", "ｏａｔ", "² ³", "a" * 500, " ".join(["w"] * 250),
]


def test_search_syntax_is_never_an_error(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "buy oat milk")
    answers = {query: search(client, alice, query) for query in SYNTAX}
    assert {query: r.status_code for query, r in answers.items() if r.status_code != 200} == {}
    assert all(set(r.json()) == {"hits", "has_more"} for r in answers.values())


def test_an_unbalanced_quote_is_a_plain_search(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "latte first, then soy beans")
    assert [snippet_text(hit) for hit in hits(client, alice, '"soy latte')] == ["latte first, then soy beans"]


def test_a_query_without_words_matches_nothing(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "buy oat milk")
    assert search(client, alice, '"*" -').json() == {"hits": [], "has_more": False}


def test_words_split_at_punctuation_alike_on_both_databases(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "Ask bob@example.com about the soy-latte order, see https://shop.example.org/cart")
    for query in ("example", '"soy latte"', "latte", "shop", "cart", '"bob example com"'):
        assert len(hits(client, alice, query)) == 1, query


def test_more_relevant_first_then_newest(client: httpx.Client, alice: Account) -> None:
    older = send(client, alice, "plant the tulips").json()["messages"][0]["id"]
    newer = send(client, alice, "plant the roses").json()["messages"][0]["id"]
    best = send(client, alice, "tulips tulips tulips").json()["messages"][0]["id"]
    assert [hit["message_id"] for hit in hits(client, alice, "plant")] == [newer, older]
    assert [hit["message_id"] for hit in hits(client, alice, "tulips")] == [best, older]


def test_results_are_paged_with_limit_and_offset(client: httpx.Client, alice: Account) -> None:
    conversation_id = None
    for n in range(5):
        conversation_id = send(client, alice, f"note number {n} about kayaks", conversation_id).json()["conversation_id"]
    first = search(client, alice, "kayaks", limit=3).json()
    rest = search(client, alice, "kayaks", limit=3, offset=3).json()
    assert first["has_more"] is True and rest["has_more"] is False
    ids = [hit["message_id"] for hit in first["hits"] + rest["hits"]]
    assert len(ids) == len(set(ids)) == 5


def test_nobody_finds_another_users_messages(client: httpx.Client, alice: Account, bob: Account) -> None:
    send(client, alice, "alice's secret saffron recipe")
    send(client, bob, "bob likes saffron too")
    assert [snippet_text(hit) for hit in hits(client, bob, "saffron")] == ["bob likes saffron too"]
    assert [snippet_text(hit) for hit in hits(client, alice, "saffron")] == ["alice's secret saffron recipe"]
    assert hits(client, bob, "secret") == []
    other = client.get(f"/api/{alice.user_id}/search", params={"q": "saffron"}, headers=bob.headers)
    assert other.status_code == 403 and other.json()["error_code"] == "forbidden"


def test_search_needs_a_token(client: httpx.Client, alice: Account) -> None:
    response = client.get(f"/api/{alice.user_id}/search", params={"q": "x"})
    assert response.status_code == 401 and response.json()["error_code"] == "invalid_auth"


def test_a_deleted_conversation_leaves_the_results(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "the zeppelin ride").json()["conversation_id"]
    assert len(hits(client, alice, "zeppelin")) == 1
    client.delete(f"/api/{alice.user_id}/conversations/{conversation_id}", headers=alice.headers)
    assert hits(client, alice, "zeppelin") == []


def test_an_edited_message_is_found_by_its_new_words_only(client: httpx.Client, alice: Account, engine: Engine) -> None:
    message_id = send(client, alice, "walk the dog").json()["messages"][0]["id"]
    with engine.begin() as connection:
        connection.execute(text("UPDATE messages SET content = 'feed the cat' WHERE id = :id"),
                           {"id": uuid.UUID(message_id).hex if engine.dialect.name == "sqlite" else message_id})
    assert hits(client, alice, "dog") == []
    assert [hit["message_id"] for hit in hits(client, alice, "cat")] == [message_id]


@pytest.mark.parametrize("params", [
    {"q": ""}, {"q": "   "}, {"q": "x" * 501}, {"q": "a\x00b"}, {"q": "x", "limit": 0}, {"q": "x", "limit": 51},
    {"q": "x", "offset": -1}, {"q": "x", "offset": 2**31}, {},
])
def test_bad_search_parameters_are_400(client: httpx.Client, alice: Account, params: dict[str, Any]) -> None:
    response = client.get(f"/api/{alice.user_id}/search", params=params, headers=alice.headers)
    assert response.status_code == 400 and response.json()["error_code"] == "invalid_request"


def test_search_is_in_the_openapi_document(client: httpx.Client) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/{user_id}/search"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"user_id", "q", "limit", "offset"}


def test_users_whose_ids_share_the_index_tag_each_find_only_their_own(engine: Engine) -> None:
    """On PostgreSQL a word is indexed under the first 8 hex digits of its
    owner's id; the tag narrows the index scan, the owner check decides."""
    owners = [uuid.UUID("3d517fe6-0000-4000-8000-000000000001"), uuid.UUID("3d517fe6-0000-4000-8000-000000000002")]
    now = utcnow()
    with engine.begin() as connection:
        for n, owner in enumerate(owners):
            conversation_id = uuid.uuid4()
            connection.execute(sa_insert(User).values(id=owner, email=f"tag{n}@example.com", password_hash="x",
                                                      created_at=now))
            connection.execute(sa_insert(Conversation).values(
                id=conversation_id, user_id=owner, title=f"Owner {n}", last_seq=1, created_at=now, updated_at=now))
            connection.execute(sa_insert(Message).values(
                id=uuid.uuid4(), conversation_id=conversation_id, seq=1, role="user",
                content=f"the shared harpsichord lesson {n}", created_at=now))
    for n, owner in enumerate(owners):
        for query in ("harpsichord", "harps*", '"shared harpsichord"'):
            found, _ = search_messages(engine, user_id=owner, query=query)
            assert [hit.conversation_title for hit in found] == [f"Owner {n}"]


def test_a_message_with_a_very_long_word_is_stored_and_its_other_words_found(
    client: httpx.Client, alice: Account
) -> None:
    """PostgreSQL keeps words up to 2046 bytes; tagged with their owner
    they would pass its 2047-byte limit, so such words are left out of the
    index rather than fail the insert."""
    response = send(client, alice, "a" * 2045 + " the okapi sighting")
    assert response.status_code == 200, response.text
    assert len(hits(client, alice, "okapi")) == 1
