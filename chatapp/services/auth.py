"""Accounts and bearer tokens.

Passwords are hashed with argon2id; tokens are HS256 JWTs whose `sub` is the
user id. Decoding pins the algorithm and requires `exp`, so an unsigned or
differently signed token never authenticates anyone.

Every token also carries `ver`, the user's token version when it was issued
(absent in tokens older than the claim: version 0). Signing out everywhere or
changing the password bumps the version, which revokes every earlier token.
The version is compared in the one statement that already looks the user up
(`current_identity`), or, on the chat turn, in the turn's own first statement,
so revocation costs no extra database round trip.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from dataclasses import dataclass
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from chatapp.config import Settings
from chatapp.db import User
from chatapp.db.types import utcnow
from chatapp.services.database import in_thread, one_statement, transaction
from chatapp.services.passwords import PasswordHashing
from chatapp.services.text import EMAIL_PATTERN, PASSWORD_PATTERN, check_text
from chatapp.services.errors import Conflict, InvalidAuth, InvalidInput
from chatapp.services.verified_tokens import VerifiedTokens

JWT_ALGORITHM = "HS256"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
EMAIL_RULE = re.compile(EMAIL_PATTERN)
PASSWORD_RULE = re.compile(PASSWORD_PATTERN)
_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures cost the same.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
LOGIN_FAILED = "Incorrect email or password."
TOKEN_REVOKED = "Token has been revoked. Sign in again."
MAX_TOKEN_VERSION = 2**31 - 1
# Tokens this worker has verified (see verified_tokens); revocation is still checked per request.
VERIFIED = VerifiedTokens()


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for, and under which token version."""

    user_id: uuid.UUID
    token_version: int = 0


@dataclass(frozen=True)
class Session:
    user_id: uuid.UUID
    email: str
    access_token: str
    token_type: str = "bearer"


def normalize_email(email: str) -> str:
    """The rule is EMAIL_PATTERN (also in the OpenAPI document), checked on
    the address as given (surrounding whitespace ignored), then lower-cased."""
    cleaned = check_text(email, "email").strip()
    if len(cleaned) > 320 or not EMAIL_RULE.match(cleaned) or len(cleaned.lower()) > 320:
        raise InvalidInput("Enter a valid email address.")
    return cleaned.lower()


def check_password_strength(password: str) -> None:
    check_text(password, "password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"Password must be at most {MAX_PASSWORD_LENGTH} characters.")
    if not PASSWORD_RULE.match(password):
        raise InvalidInput("Password is too weak: mix letters with digits, capitals or symbols.")


def api_audience(settings: Settings) -> str:
    return f"{settings.base_url}/api"


def mcp_audience(settings: Settings) -> str:
    """The MCP server's canonical URI (RFC 8707 resource indicator)."""
    return f"{settings.base_url}/mcp"


def issue_token(user_id: uuid.UUID, settings: Settings, *, token_version: int = 0) -> str:
    """A user's access token: good for the REST API and for the MCP server
    (both audiences), so the same token works in an external MCP client.
    Every token function takes the app's settings, never a global: the
    secret that signs is the secret that verifies."""
    now = utcnow()
    claims = {
        "sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=settings.jwt_ttl_minutes),
        "iss": settings.base_url, "aud": [api_audience(settings), mcp_audience(settings)], "ver": token_version,
    }
    return jwt.encode(claims, settings.jwt_signing_key, algorithm=JWT_ALGORITHM)


def issue_tool_token(user_id: uuid.UUID, settings: Settings, ttl_seconds: float, *, token_version: int = 0) -> str:
    """The per-turn credential the agent hands the MCP server: its only
    audience is the MCP server, so the REST API refuses it. It carries the
    version of the token that started the turn, so signing out everywhere
    revokes it too."""
    now = utcnow()
    claims = {
        "sub": str(user_id), "iat": now, "exp": now + timedelta(seconds=ttl_seconds),
        "iss": settings.base_url, "aud": [mcp_audience(settings)], "ver": token_version,
    }
    return jwt.encode(claims, settings.jwt_signing_key, algorithm=JWT_ALGORITHM)


def decode_claims(token: str | None, settings: Settings, *, audience: str | None = None) -> dict:
    """Verified claims: signature (HS256 only), expiry, issuer, and that the
    token names `audience` (default: the REST API)."""
    if not token:
        raise InvalidAuth("Missing bearer token.")
    audience = audience or api_audience(settings)
    key = (token, audience, settings.jwt_signing_key, settings.base_url)
    if (claims := VERIFIED.get(key)) is not None:
        return claims
    try:
        claims = jwt.decode(
            token,
            settings.jwt_signing_key,
            algorithms=[JWT_ALGORITHM],
            audience=audience,
            issuer=settings.base_url,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
        uuid.UUID(str(claims["sub"]))
        version = claims.get("ver", 0)
        if type(version) is not int or not 0 <= version <= MAX_TOKEN_VERSION:
            raise ValueError("ver")
        VERIFIED.remember(key, claims)
        return claims
    except jwt.ExpiredSignatureError as error:
        raise InvalidAuth("Token has expired.") from error
    except jwt.InvalidAudienceError as error:
        raise InvalidAuth("Token is not meant for this service.") from error
    except (jwt.InvalidTokenError, ValueError) as error:
        raise InvalidAuth("Invalid token.") from error


def decode_token(token: str | None, settings: Settings, *, audience: str | None = None) -> uuid.UUID:
    """The user id a token speaks for, without touching the database (nor
    checking revocation: see `decode_identity` and `current_identity`)."""
    return uuid.UUID(str(decode_claims(token, settings, audience=audience)["sub"]))


def identity_of(claims: dict) -> Identity:
    return Identity(uuid.UUID(str(claims["sub"])), int(claims.get("ver", 0)))


def decode_identity(token: str | None, settings: Settings, *, audience: str | None = None) -> Identity:
    """Signature, expiry, issuer and audience; revocation is the database's
    to say (`current_identity`, or the chat turn's first statement)."""
    return identity_of(decode_claims(token, settings, audience=audience))


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidAuth("Authorization header must be 'Bearer <token>'.")
    return value.strip()


def user_exists(engine: Engine, user_id: uuid.UUID) -> bool:
    with transaction(engine) as connection:
        return connection.execute(select(User.id).where(User.id == user_id)).first() is not None


def refuse_stale(stored_version: int | None, identity: Identity) -> None:
    """Why a token that verified cryptographically still speaks for nobody."""
    if stored_version is None:
        raise InvalidAuth("Unknown user.")
    if stored_version != identity.token_version:
        raise InvalidAuth(TOKEN_REVOKED)


def check_identity(connection: Connection, identity: Identity) -> None:
    refuse_stale(
        connection.execute(select(User.token_version).where(User.id == identity.user_id)).scalar(), identity
    )


def current_identity(engine: Engine, identity: Identity) -> Identity:
    """The identity, once the database confirms the user exists and the
    token has not been revoked (one statement, the one that used to check
    only that the user exists), in autocommit on PostgreSQL: one round trip,
    on every authenticated request that is not a turn."""
    with one_statement(engine) as connection:
        check_identity(connection, identity)
    return identity


def authenticate_identity(engine: Engine, token: str | None, settings: Settings) -> Identity:
    """Token → identity, rejecting revoked tokens and deleted users."""
    return current_identity(engine, decode_identity(token, settings))


def authenticate(engine: Engine, token: str | None, settings: Settings) -> uuid.UUID:
    """Token → user id, rejecting revoked tokens and deleted users."""
    return authenticate_identity(engine, token, settings).user_id


def create_user(engine: Engine, email: str, password_hash: str, settings: Settings) -> Session:
    user_id = uuid.uuid4()
    try:
        with transaction(engine) as connection:
            connection.execute(
                insert(User).values(
                    id=user_id, email=email, password_hash=password_hash, last_task_id=0, token_version=0,
                    created_at=utcnow()
                )
            )
    except IntegrityError as error:
        raise Conflict("An account with this email already exists.") from error
    return Session(user_id=user_id, email=email, access_token=issue_token(user_id, settings))


def register(engine: Engine, *, email: str, password: str, settings: Settings) -> Session:
    email = normalize_email(email)
    check_password_strength(password)
    return create_user(engine, email, _hasher.hash(password), settings)


def prepare_login(email: str, password: str) -> str:
    """The normalised email to look up; bad input is a 400, any other
    problem the same 401 as a wrong password."""
    check_text(email, "email")
    check_text(password, "password")  # a lone surrogate cannot be hashed: 400, not 500
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidAuth(LOGIN_FAILED)
    try:
        return normalize_email(email)
    except InvalidInput:
        raise InvalidAuth(LOGIN_FAILED) from None


def find_login(engine: Engine, email: str) -> Any:
    with transaction(engine) as connection:
        return connection.execute(
            select(User.id, User.password_hash, User.token_version).where(func.lower(User.email) == email)
        ).first()


def login(engine: Engine, *, email: str, password: str, settings: Settings) -> Session:
    email = prepare_login(email, password)
    row = find_login(engine, email)
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise InvalidAuth(LOGIN_FAILED) from None
    if row is None:
        raise InvalidAuth(LOGIN_FAILED)
    return Session(user_id=row.id, email=email, access_token=issue_token(row.id, settings, token_version=row.token_version))


async def login_bounded(
    engine: Engine, hashing: PasswordHashing, *, email: str, password: str, settings: Settings
) -> Session:
    """`login` for the API: the lookup on a database thread, the hash on the
    bounded hashing pool."""
    email = prepare_login(email, password)
    row = await in_thread(find_login, engine, email)
    verified = await hashing.verify(row.password_hash if row else _DUMMY_HASH, password)
    if not verified or row is None:
        raise InvalidAuth(LOGIN_FAILED)
    return Session(user_id=row.id, email=email,
                   access_token=issue_token(row.id, settings, token_version=row.token_version))


async def register_bounded(
    engine: Engine, hashing: PasswordHashing, *, email: str, password: str, settings: Settings
) -> Session:
    email = normalize_email(email)
    check_password_strength(password)
    password_hash = await hashing.hash(password)
    return await in_thread(create_user, engine, email, password_hash, settings)


def email_of(engine: Engine, user_id: uuid.UUID) -> str | None:
    with transaction(engine) as connection:
        return connection.execute(select(User.email).where(User.id == user_id)).scalar()
