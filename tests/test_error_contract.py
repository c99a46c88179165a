"""The one error contract: a `ServiceError` carries its code, message,
conversation id and whether a retry can help; one function builds the body
every surface sends; the API alone gives each code its HTTP status."""

from __future__ import annotations

import json
import uuid

from chatapp.api.errors import HTTP_STATUS, http_status
from chatapp.services.errors import KINDS, Conflict, RateLimited, ServiceError, Unavailable, failure_for
from chatapp.services.turn_events import TurnFailed, decode, encode, server_sent_event


def test_every_service_error_code_has_an_http_status() -> None:
    assert set(KINDS) | {ServiceError.error_code} <= set(HTTP_STATUS)


def test_an_error_body_is_the_documented_shape() -> None:
    conversation_id = uuid.uuid4()
    assert Conflict("Busy.", conversation_id=conversation_id).body() == {
        "status": "error", "error_code": "conflict", "error": "Busy.", "conversation_id": str(conversation_id),
    }


def test_a_streamed_error_event_carries_the_same_body_as_a_json_answer() -> None:
    error = Unavailable("The database is unavailable. Try again shortly.", conversation_id=uuid.uuid4())
    frame = server_sent_event(TurnFailed(error)).decode()
    assert frame.startswith("event: error\n")
    assert json.loads(frame.split("data: ", 1)[1]) == error.body()


def test_an_error_read_back_from_the_turn_bus_keeps_its_retryability() -> None:
    for error in (Conflict("Busy."), Unavailable("Down.")):
        decoded = decode(encode(TurnFailed(error)))
        assert isinstance(decoded, TurnFailed)
        assert (decoded.error.error_code, decoded.error.retryable) == (error.error_code, error.retryable)


def test_only_failures_a_second_try_can_fix_are_retryable() -> None:
    retryable = {code for code, kind in KINDS.items() if kind.retryable}
    assert retryable == {"rate_limited", "agent_error", "timeout", "database_error", "unavailable", "interrupted"}


def test_the_api_answers_a_rate_limit_429_and_a_stored_failure_by_its_code() -> None:
    assert http_status(RateLimited("Slow down.", retry_after=3)) == 429
    assert http_status(failure_for("interrupted")) == 503
