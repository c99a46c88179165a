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
