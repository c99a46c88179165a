"""What routes declare in their signatures: the app's parts (or one of
them), the signed-in user. Every part comes from `app.state.parts`, opened
by the app's lifespan (chatapp/api/app.py, `serving`).

Every dependency here is `async def`, even those that never await: FastAPI
runs a plain `def` dependency in its thread pool, and the chat turn's four
would cost four thread hops per request for work (a dict lookup, a JWT
check) far cheaper than the hop itself."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPBearer
from sqlalchemy import Engine

from chatapp.config import Settings
from chatapp.services.parts import AppParts
from chatapp.services.passwords import PasswordHashing
from chatapp.services.ratelimit import RateLimiter, client_ip
from chatapp.services.auth import Identity, bearer_token, current_identity, decode_identity
from chatapp.services.database import in_thread
from chatapp.services.errors import Forbidden
from chatapp.services.text import UUID_PATTERN, parse_uuid


def parts_of(request: Request) -> AppParts:
    return request.app.state.parts


async def get_parts(request: Request) -> AppParts:
    return parts_of(request)


PartsDep = Annotated[AppParts, Depends(get_parts)]


async def get_engine(request: Request) -> Engine:
    return parts_of(request).engine


EngineDep = Annotated[Engine, Depends(get_engine)]


async def get_app_settings(request: Request) -> Settings:
    return parts_of(request).settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_limiter(request: Request) -> RateLimiter:
    return parts_of(request).limiter


LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


async def get_hashing(request: Request) -> PasswordHashing:
    return parts_of(request).hashing


HashingDep = Annotated[PasswordHashing, Depends(get_hashing)]


# Path ids are parsed by hand (one message, one accepted spelling) but
# documented as what they are: UUIDs in the 8-4-4-4-12 form.
UUID_PATH = {"format": "uuid", "pattern": UUID_PATTERN}


async def path_user_id(user_id: Annotated[str, Path(json_schema_extra=UUID_PATH)]) -> uuid.UUID:
    return parse_uuid(user_id, "user_id")


# Documents the scheme in OpenAPI (securitySchemes); the header itself is
# parsed below, so a malformed one gets our own 401 message.
bearer_scheme = HTTPBearer(auto_error=False, description="The access token from /api/auth/login or /register.")


async def token_identity(request: Request, _scheme: Annotated[object, Security(bearer_scheme)] = None) -> Identity:
    """Only tokens naming the REST API as an audience: the agent's per-turn
    MCP token is refused here."""
    return decode_identity(bearer_token(request.headers.get("authorization")), parts_of(request).settings)


def same_user(identity: Identity, user_id: uuid.UUID) -> Identity:
    if identity.user_id != user_id:
        raise Forbidden("The token does not belong to this user.")
    return identity


async def path_caller_fast(
    identity: Annotated[Identity, Depends(token_identity)],
    user_id: Annotated[uuid.UUID, Depends(path_user_id)],
) -> Identity:
    """For the chat turn: signature and expiry only. The turn's own first
    statement notices a revoked token or a user that no longer exists,
    saving a query per turn (pass `token_version` on)."""
    return same_user(identity, user_id)


async def path_caller_checked(
    engine: EngineDep,
    identity: Annotated[Identity, Depends(token_identity)],
    user_id: Annotated[uuid.UUID, Depends(path_user_id)],
) -> Identity:
    """The path's user, once the token is valid, not revoked, names an
    existing user (one statement), and speaks for that same user."""
    await in_thread(current_identity, engine, identity)
    return same_user(identity, user_id)


async def path_user_checked(caller: Annotated[Identity, Depends(path_caller_checked)]) -> uuid.UUID:
    return caller.user_id


CurrentUser = Annotated[uuid.UUID, Depends(path_user_checked)]
CurrentCaller = Annotated[Identity, Depends(path_caller_checked)]
ChatCaller = Annotated[Identity, Depends(path_caller_fast)]


async def client_address(request: Request) -> str:
    """The client IP the per-IP limits count (X-Forwarded-For only from
    TRUSTED_PROXIES)."""
    settings = parts_of(request).settings
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxy_list)


ClientIp = Annotated[str, Depends(client_address)]



async def token_caller_checked(engine: EngineDep, identity: Annotated[Identity, Depends(token_identity)]) -> Identity:
    """For routes without a user in the path (ChatKit): the token's own
    user, once the token is valid, not revoked and names an existing user."""
    return await in_thread(current_identity, engine, identity)


TokenCaller = Annotated[Identity, Depends(token_caller_checked)]
