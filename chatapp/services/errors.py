"""One exception hierarchy for the service layer: the one error contract.

An error carries what every surface reports: its code, its message, the
conversation it concerns, and whether trying again can help. How a surface
shows it is that surface's own business: the API maps codes to HTTP statuses
(chatapp/api/errors.py), ChatKit offers a retry or not, the web UI shows the
message with a Resend button or without.
"""

from __future__ import annotations

import uuid
from typing import Any


def error_body(error_code: str, message: str, conversation_id: object = None) -> dict[str, Any]:
    """The documented error shape, for a JSON answer and a stream's `error`
    event alike: `{"status": "error", "error_code", "error", "conversation_id"}`."""
    return {
        "status": "error",
        "error_code": error_code,
        "error": message,
        "conversation_id": str(conversation_id) if conversation_id else None,
    }


class ServiceError(Exception):
    error_code = "internal_error"
    # Whether the same request again may succeed (a later try, another worker).
    retryable = True

    def __init__(self, message: str, *, conversation_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.conversation_id = conversation_id

    def body(self) -> dict[str, Any]:
        return error_body(self.error_code, self.message, self.conversation_id)


class InvalidInput(ServiceError):
    error_code = "invalid_request"
    retryable = False


class InvalidAuth(ServiceError):
    error_code = "invalid_auth"
    retryable = False


class Forbidden(ServiceError):
    error_code = "forbidden"
    retryable = False


class NotFound(ServiceError):
    error_code = "not_found"
    retryable = False


class Conflict(ServiceError):
    error_code = "conflict"
    retryable = False


class RateLimited(ServiceError):
    """Too many attempts; `retry_after` is whole seconds until the window
    lets the next one through (the HTTP `Retry-After`)."""

    error_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, conversation_id: uuid.UUID | None = None) -> None:
        super().__init__(message, conversation_id=conversation_id)
        self.retry_after = max(1, int(retry_after))


class AgentFailed(ServiceError):
    error_code = "agent_error"


class AgentTimeout(ServiceError):
    error_code = "timeout"


class Unavailable(ServiceError):
    error_code = "database_error"


DRAINING_MESSAGE = "This server is restarting. Try again in a moment."


class Draining(ServiceError):
    """This worker is shutting down: the next try reaches another one."""

    error_code = "unavailable"


class Interrupted(ServiceError):
    """The worker running the turn stopped (crash, kill, deploy past the
    grace period); the user message is stored and a retry answers it."""

    error_code = "interrupted"


class IdempotencyMismatch(ServiceError):
    error_code = "idempotency_mismatch"
    retryable = False


# What a stored failed answer's error_code means, for answering it again.
FAILURES: dict[str, tuple[type[ServiceError], str]] = {
    "agent_error": (AgentFailed, "The assistant failed to answer. Your message was saved; try again."),
    "timeout": (AgentTimeout, "The assistant did not answer in time. Your message was saved; try again."),
    "interrupted": (Interrupted, "The reply was interrupted before it finished. Your message was saved; retry to get an answer."),
    "database_error": (Unavailable, "The database is unavailable. Try again shortly."),
    "not_found": (NotFound, "The conversation was deleted during the turn."),
}


# Every error by its code: whether a code is retryable is said once, on its class.
KINDS: dict[str, type[ServiceError]] = {kind.error_code: kind for kind in ServiceError.__subclasses__()}


def failure_for(error_code: str | None, conversation_id: object = None, *, message: str | None = None) -> ServiceError:
    """A failure read back (a stored failed answer, an `error` event off the
    turn bus) as the error it was, code, message and retryability included."""
    kind, default = FAILURES.get(error_code or "", (AgentFailed, FAILURES["agent_error"][1]))
    error = kind(message or default)
    error.error_code = error_code or kind.error_code
    error.retryable = KINDS.get(error.error_code, kind).retryable
    error.conversation_id = uuid.UUID(str(conversation_id)) if conversation_id else None
    return error
