"""What routes declare in their signatures: the engine, the signed-in user."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPBearer
from sqlalchemy import Engine

from chatapp.config import Settings
from chatapp.services.ratelimit import RateLimiter
from chatapp.services.auth import bearer_token, decode_token, user_exists
from chatapp.services.database import in_thread
from chatapp.services.errors import Forbidden, InvalidAuth
from chatapp.services.text import UUID_PATTERN, parse_uuid


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


# Path ids are parsed by hand (one message, one accepted spelling) but
# documented as what they are: UUIDs in the 8-4-4-4-12 form.
UUID_PATH = {"format": "uuid", "pattern": UUID_PATTERN}


def path_user_id(user_id: Annotated[str, Path(json_schema_extra=UUID_PATH)]) -> uuid.UUID:
    return parse_uuid(user_id, "user_id")


# Documents the scheme in OpenAPI (securitySchemes); the header itself is
# parsed below, so a malformed one gets our own 401 message.
bearer_scheme = HTTPBearer(auto_error=False, description="The access token from /api/auth/login or /register.")


def token_subject(request: Request, _scheme: Annotated[object, Security(bearer_scheme)] = None) -> uuid.UUID:
    """Only tokens naming the REST API as an audience: the agent's per-turn
    MCP token is refused here."""
    return decode_token(bearer_token(request.headers.get("authorization")), request.app.state.settings)


async def path_user_checked(
    engine: EngineDep,
    subject: Annotated[uuid.UUID, Depends(token_subject)],
    user_id: Annotated[uuid.UUID, Depends(path_user_id)],
) -> uuid.UUID:
    """The path's user, once the token is valid, names an existing user, and
    speaks for that same user."""
    if not await in_thread(user_exists, engine, subject):
        raise InvalidAuth("Unknown user.")
    return path_user_fast(subject, user_id)


def path_user_fast(
    subject: Annotated[uuid.UUID, Depends(token_subject)],
    user_id: Annotated[uuid.UUID, Depends(path_user_id)],
) -> uuid.UUID:
    """For the chat turn: signature and expiry only. The turn's own first
    statement notices a user that no longer exists, saving a query per turn."""
    if subject != user_id:
        raise Forbidden("The token does not belong to this user.")
    return user_id


CurrentUser = Annotated[uuid.UUID, Depends(path_user_checked)]
ChatUser = Annotated[uuid.UUID, Depends(path_user_fast)]


async def token_user(engine: EngineDep, subject: Annotated[uuid.UUID, Depends(token_subject)]) -> uuid.UUID:
    """For routes without a user in the path (ChatKit): the token's own user,
    once it is known to exist."""
    if not await in_thread(user_exists, engine, subject):
        raise InvalidAuth("Unknown user.")
    return subject


TokenUser = Annotated[uuid.UUID, Depends(token_user)]
