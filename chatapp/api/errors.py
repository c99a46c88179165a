"""The one place errors become HTTP responses, always in the documented
shape `{"status": "error", "error_code", "error", "conversation_id"}`
(built by `chatapp.services.errors.error_body`, as a stream's error event
is). The HTTP status of each error code is decided here and nowhere else."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from chatapp.services.errors import InvalidAuth, RateLimited, ServiceError, error_body

logger = logging.getLogger("chatapp.api")
HTTP_STATUS = {
    "invalid_request": 400, "invalid_auth": 401, "forbidden": 403, "not_found": 404, "method_not_allowed": 405,
    "conflict": 409, "payload_too_large": 413, "idempotency_mismatch": 422, "rate_limited": 429,
    "internal_error": 500, "agent_error": 500, "timeout": 500,
    "database_error": 503, "unavailable": 503, "interrupted": 503,
}
# The framework's own refusals (a route not found, a body too large) are
# answered by status; any other 4xx is invalid_request, 5xx internal_error.
FRAMEWORK_CODES = ("invalid_auth", "forbidden", "not_found", "method_not_allowed", "conflict", "payload_too_large",
                   "rate_limited")
HTTP_CODES = {HTTP_STATUS[code]: code for code in FRAMEWORK_CODES}
# RFC 6750: a 401 names the scheme the client should use.
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="chatapp"'}


def http_status(error: ServiceError) -> int:
    return HTTP_STATUS.get(error.error_code, 500)


def error_response(error_code: str, message: str, *, status: int | None = None) -> JSONResponse:
    """`status` only for a framework refusal whose status has no code of its own."""
    return JSONResponse(status_code=status or HTTP_STATUS[error_code], content=error_body(error_code, message))


def describe_validation(error: RequestValidationError) -> str:
    problems = []
    for issue in error.errors():
        where = ".".join(str(part) for part in issue.get("loc", ()) if part != "body")
        kind = issue.get("type", "")
        if kind == "json_invalid":
            return "Request body is not valid JSON."
        if kind == "extra_forbidden":
            problems.append(f"unknown field '{where}'")
        elif kind == "missing":
            problems.append(f"'{where}' is required")
        elif kind in ("model_attributes_type", "dict_type") and not where:
            return "Request body must be a JSON object."
        else:
            problems.append(f"'{where}': {issue.get('msg', 'invalid')}" if where else issue.get("msg", "invalid"))
    return "Invalid request: " + "; ".join(problems) + "."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, error: ServiceError) -> JSONResponse:
        status = http_status(error)
        if status >= 500:
            logger.warning("%s: %s", error.error_code, error.message, exc_info=error.__cause__)
        response = JSONResponse(status_code=status, content=error.body())
        if isinstance(error, InvalidAuth):
            response.headers.update(WWW_AUTHENTICATE)
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI would answer 422; the contract is 400 invalid_request.
        return error_response("invalid_request", describe_validation(error))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(error.status_code, "invalid_request" if error.status_code < 500 else "internal_error")
        response = error_response(code, str(error.detail), status=error.status_code)
        if error.headers:
            response.headers.update(error.headers)
        if error.status_code == 401:
            response.headers.update(WWW_AUTHENTICATE)
        return response

    # No handler for Exception here: Starlette's ServerErrorMiddleware would log
    # the error again after the handler ran. `ApiShield` logs it once instead.
