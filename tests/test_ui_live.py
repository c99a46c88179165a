"""The live reply: what the chat page shows while a turn streams, built
from the turn's events, tested without a browser or a server."""

from __future__ import annotations

from chatapp.services.turn_events import TextDelta, ToolFinished, ToolStarted, TurnDone
from chatapp.ui.live import FLUSH_SECONDS, LiveReply


def just_flushed() -> LiveReply:
    live = LiveReply()
    live.flushed()
    return live


def test_live_reply_collects_text_and_tool_calls_and_throttles_text() -> None:
    live = LiveReply()
    assert live.add(ToolStarted("c1", "add_task", {"title": "Milk"}))
    assert live.calls[0].pending and live.calls[0].summary == "title: Milk"
    assert live.add(ToolFinished("c1", "add_task", {"status": "created"}))
    assert not live.calls[0].pending and '"created"' in live.calls[0].result_json and not live.calls[0].failed
    live.flushed()
    assert not live.add(TextDelta("I've "))  # just flushed: wait for more words
    live.last_flush -= 1
    assert live.add(TextDelta("added it."))
    assert live.text == "I've added it." and live.text_changed
    assert not live.add(TurnDone({"status": "success"}))


def test_text_deltas_add_up_in_the_order_they_came() -> None:
    live = LiveReply()
    for word in ("Hi", "! ", "I can ", "help."):
        live.add(TextDelta(word))
    assert live.text == "Hi! I can help."


def test_the_first_words_of_a_reply_show_at_once() -> None:
    assert LiveReply().add(TextDelta("Hi"))


def test_words_right_after_a_flush_wait_for_the_next_one() -> None:
    live = just_flushed()
    assert not live.add(TextDelta("Hi"))
    assert live.text == "Hi" and live.text_changed  # kept, shown with the next flush


def test_words_show_once_the_flush_interval_has_passed() -> None:
    live = just_flushed()
    live.last_flush -= FLUSH_SECONDS
    assert live.add(TextDelta("Hi"))


def test_a_tool_call_shows_at_once_as_a_pending_card() -> None:
    live = just_flushed()
    assert live.add(ToolStarted("c1", "complete_task", {"task_id": 3}))
    [card] = live.calls
    assert (card.id, card.tool_name, card.summary, card.pending) == ("c1", "complete_task", "task_id: 3", True)
    assert card.result_json == "" and live.calls_changed


def test_a_tool_result_finishes_only_its_own_card() -> None:
    live = LiveReply()
    live.add(ToolStarted("c1", "add_task", {"title": "Milk"}))
    live.add(ToolStarted("c2", "add_task", {"title": "Bread"}))
    assert live.add(ToolFinished("c2", "add_task", {"status": "created", "task_id": 2}))
    assert [card.pending for card in live.calls] == [True, False]
    assert '"task_id": 2' in live.calls[1].result_json


def test_a_failed_tool_result_marks_its_card_failed() -> None:
    live = LiveReply()
    live.add(ToolStarted("c1", "complete_task", {"task_id": 9}))
    live.add(ToolFinished("c1", "complete_task", {"status": "error", "error": "not_found"}))
    assert live.calls[0].failed and not live.calls[0].pending


def test_the_end_of_the_turn_is_not_shown_by_the_live_reply() -> None:
    """The page re-reads what was stored instead."""
    live = LiveReply()
    live.add(TextDelta("Done."))
    assert not live.add(TurnDone({"status": "success"}))
    assert live.text == "Done."


def test_a_flush_clears_what_changed() -> None:
    live = LiveReply()
    live.add(TextDelta("Hi"))
    live.add(ToolStarted("c1", "list_tasks", {}))
    live.flushed()
    assert not live.text_changed and not live.calls_changed
