"""What the chat page works out from the URL and for the browser, and what
it tells a person whose message is too long: pure helpers of the page's
state, tested without a browser or a server."""

from __future__ import annotations

from chatapp.services.turns import MAX_MESSAGE_CHARS
from chatapp.ui.thread_state import conversation_in_path, scroll_to_message_js
from chatapp.ui.turn_state import too_long_text

CONVERSATION = "0b5f2a9e-3c1d-4e8f-9a7b-6c5d4e3f2a1b"


def test_a_conversation_url_names_its_conversation() -> None:
    assert conversation_in_path(f"/chat/{CONVERSATION}") == CONVERSATION


def test_a_conversation_url_with_a_query_or_trailing_slash_names_its_conversation() -> None:
    assert conversation_in_path(f"/chat/{CONVERSATION}/?from=search") == CONVERSATION


def test_the_new_chat_url_names_no_conversation() -> None:
    assert conversation_in_path("/chat") == ""
    assert conversation_in_path("/chat/") == ""


def test_a_url_outside_the_chat_names_no_conversation() -> None:
    assert conversation_in_path(f"/login/{CONVERSATION}") == ""
    assert conversation_in_path("/") == ""


def test_scrolling_to_a_message_targets_that_message_element() -> None:
    script = scroll_to_message_js(42)
    assert 'document.getElementById("message-42")' in script
    assert 'scrollIntoView({block: "center"})' in script


def test_a_too_long_message_is_told_its_length_and_the_limit() -> None:
    text = too_long_text(MAX_MESSAGE_CHARS + 1)
    assert f"{MAX_MESSAGE_CHARS + 1:,} characters" in text and f"the limit is {MAX_MESSAGE_CHARS:,}" in text
