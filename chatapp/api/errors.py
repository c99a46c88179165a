"""The one place errors become HTTP responses, always in the documented
shape `{"status": "error", "error_code", "error", "conversation_id"}`."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from chatapp.services.errors import InvalidAuth, RateLimited, ServiceError

logger = logging.getLogger("chatapp.api")
HTTP_CODES = {
    401: "invalid_auth", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict",
    413: "payload_too_large", 429: "rate_limited",
}
# RFC 6750: a 401 names the scheme the client should use.
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="chatapp"'}


def error_response(status: int, error_code: str, message: str, conversation_id: uuid.UUID | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={
            "status": "error",
            "error_code": error_code,
            "error": message,
            "conversation_id": str(conversation_id) if conversation_id else None,
        },
    )


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
        if error.http_status >= 500:
            logger.warning("%s: %s", error.error_code, error.message, exc_info=error.__cause__)
        response = error_response(error.http_status, error.error_code, error.message, error.conversation_id)
        if isinstance(error, InvalidAuth):
            response.headers.update(WWW_AUTHENTICATE)
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI would answer 422; the contract is 400 invalid_request.
        return error_response(400, "invalid_request", describe_validation(error))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(error.status_code, "invalid_request" if error.status_code < 500 else "internal_error")
        response = error_response(error.status_code, code, str(error.detail))
        if error.headers:
            response.headers.update(error.headers)
        if error.status_code == 401:
            response.headers.update(WWW_AUTHENTICATE)
        return response

    # No handler for Exception here: Starlette's ServerErrorMiddleware would log
    # the error again after the handler ran. `ApiShield` logs it once instead.
