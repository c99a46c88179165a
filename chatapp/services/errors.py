"""One exception hierarchy for the service layer.

Each error carries its API `error_code` and HTTP status, so the API maps
them in one place and the web UI shows the same message.
"""

from __future__ import annotations

import uuid


class ServiceError(Exception):
    error_code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, conversation_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.conversation_id = conversation_id


class InvalidInput(ServiceError):
    error_code = "invalid_request"
    http_status = 400


class InvalidAuth(ServiceError):
    error_code = "invalid_auth"
    http_status = 401


class Forbidden(ServiceError):
    error_code = "forbidden"
    http_status = 403


class NotFound(ServiceError):
    error_code = "not_found"
    http_status = 404


class Conflict(ServiceError):
    error_code = "conflict"
    http_status = 409


class RateLimited(ServiceError):
    """Too many attempts; `retry_after` is whole seconds until the window
    lets the next one through (the HTTP `Retry-After`)."""

    error_code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, conversation_id: uuid.UUID | None = None) -> None:
        super().__init__(message, conversation_id=conversation_id)
        self.retry_after = max(1, int(retry_after))


class AgentFailed(ServiceError):
    error_code = "agent_error"
    http_status = 500


class AgentTimeout(ServiceError):
    error_code = "timeout"
    http_status = 500


class Unavailable(ServiceError):
    error_code = "database_error"
    http_status = 503


class Draining(ServiceError):
    """This worker is shutting down: the next try reaches another one."""

    error_code = "unavailable"
    http_status = 503


class Interrupted(ServiceError):
    """The worker running the turn stopped (crash, kill, deploy past the
    grace period); the user message is stored and a retry answers it."""

    error_code = "interrupted"
    http_status = 503


class IdempotencyMismatch(ServiceError):
    error_code = "idempotency_mismatch"
    http_status = 422


# What a stored failed answer's error_code means, for answering it again.
FAILURES: dict[str, tuple[type[ServiceError], str]] = {
    "agent_error": (AgentFailed, "The assistant failed to answer. Your message was saved; try again."),
    "timeout": (AgentTimeout, "The assistant did not answer in time. Your message was saved; try again."),
    "interrupted": (Interrupted, "The reply was interrupted before it finished. Your message was saved; retry to get an answer."),
    "database_error": (Unavailable, "The database is unavailable. Try again shortly."),
    "not_found": (NotFound, "The conversation was deleted during the turn."),
}


def failure_for(error_code: str | None, conversation_id: object = None, *, message: str | None = None) -> ServiceError:
    kind, default = FAILURES.get(error_code or "", (AgentFailed, FAILURES["agent_error"][1]))
    error = kind(message or default)
    error.error_code = error_code or kind.error_code
    error.conversation_id = uuid.UUID(str(conversation_id)) if conversation_id else None
    return error
