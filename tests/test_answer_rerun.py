"""A retried or regenerated answer runs again under its old id: its
followers must see the new run, not the events (or the stop request) of
the run it replaces, still held by the bus for a few minutes."""

from __future__ import annotations

import httpx

from tests.support.api import Account
from tests.support.streams import LONG, Stream, start_stream, turn_path


def regenerate_streamed(http: httpx.Client, account: Account, conversation_id: str) -> Stream:
    return Stream(http, "POST", turn_path(account, conversation_id, "regenerate"),
                  {**account.headers, "Accept": "text/event-stream"})


def test_streamed_regenerate_follows_the_new_run(http: httpx.Client, carol: Account) -> None:
    first = start_stream(http, carol, "add buy milk").finish()
    conversation_id = first[0][1]["conversation_id"]
    assert first[-1][1]["messages"][-1]["content"] == "I've added task 1: buy milk."
    again = regenerate_streamed(http, carol, conversation_id)
    events = again.finish()
    assert [name for name, _ in events].count("done") == 1
    assert events[-1][1]["messages"][-1]["content"] == "I've added task 2: buy milk."  # not the old run's done
    assert again.text() == "I've added task 2: buy milk."


def test_regenerate_after_stop_is_not_stopped_by_the_old_request(http: httpx.Client, carol: Account) -> None:
    live = start_stream(http, carol, LONG)
    live.wait_for("text_delta", 2)
    conversation_id = live.events[0][1]["conversation_id"]
    assert http.post(turn_path(carol, conversation_id, "stop"), headers=carol.headers).status_code == 202
    assert live.finish()[-1][1]["messages"][-1]["status"] == "stopped"
    events = regenerate_streamed(http, carol, conversation_id).finish()
    answer = events[-1][1]["messages"][-1]
    assert answer["status"] == "complete" and answer["content"].endswith('"Delete task 1"')  # the whole reply
