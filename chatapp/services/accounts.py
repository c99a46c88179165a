"""What a person can do with their own account: sign out everywhere, change
the password, delete the account (the export is `account_export`).

Each is one short transaction guarded by the caller's token version, so a
token revoked a moment earlier (by another tab, another device) can no
longer act: the statement that changes the user names the version too.
The current password is checked like a sign-in: rate limited per client IP
and per email against the sign-in limits, hashed on the bounded pool.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update

from chatapp.config import Settings
from chatapp.db import Conversation, IdempotencyKey, Message, Task, ToolCall, User
from chatapp.services.auth import Identity, Session, check_identity, check_password_strength, issue_token, refuse_stale
from chatapp.services.bus import BusError, TurnBus
from chatapp.services.database import in_thread, transaction
from chatapp.services.errors import Forbidden, InvalidAuth
from chatapp.services.passwords import PasswordHashing
from chatapp.services.ratelimit import RateLimiter
from chatapp.services.text import check_text

WRONG_PASSWORD = "Current password is incorrect."
logger = logging.getLogger(__name__)


def bump_version(connection: Connection, identity: Identity, **values: Any) -> int:
    """Move the user to the next token version (revoking every token issued
    so far), only if the caller's token is still current; returns the new
    version."""
    new_version = connection.execute(
        update(User)
        .where(User.id == identity.user_id, User.token_version == identity.token_version)
        .values(token_version=User.token_version + 1, **values)
        .returning(User.token_version)
    ).scalar()
    if new_version is None:
        check_identity(connection, identity)  # says which: unknown user or revoked token
        raise InvalidAuth("Token has been revoked. Sign in again.")
    return int(new_version)


def revoke_sessions(engine: Engine, identity: Identity) -> None:
    """Sign out everywhere: every token issued so far stops working, on the
    REST API, in the web UI, on the MCP server, and the per-turn tool tokens."""
    with transaction(engine) as connection:
        bump_version(connection, identity)


def _account_row(engine: Engine, identity: Identity) -> Any:
    with transaction(engine) as connection:
        row = connection.execute(
            select(User.email, User.password_hash, User.token_version).where(User.id == identity.user_id)
        ).first()
    refuse_stale(row.token_version if row else None, identity)
    return row


async def verify_current_password(
    engine: Engine, hashing: PasswordHashing, limiter: RateLimiter | None, identity: Identity, password: str,
    *, client_ip: str,
) -> str:
    """The account's password, checked as a sign-in would be: the same rate
    limits (so a stolen token is no way around them) and the bounded hashing
    pool. A wrong password is 403: the token is fine, the action is refused."""
    check_text(password, "password")  # a lone surrogate cannot be hashed: 400, not 500
    row = await in_thread(_account_row, engine, identity)
    if limiter is not None:
        await limiter.hit("login_ip", client_ip)
        await limiter.hit("login_email", row.email)
    if not await hashing.verify(row.password_hash, password):
        raise Forbidden(WRONG_PASSWORD)
    return row.email


def _store_password(engine: Engine, identity: Identity, password_hash: str) -> int:
    with transaction(engine) as connection:
        return bump_version(connection, identity, password_hash=password_hash)


async def change_password(
    engine: Engine, hashing: PasswordHashing, limiter: RateLimiter | None, identity: Identity, *,
    current_password: str, new_password: str, client_ip: str, settings: Settings,
) -> Session:
    """A new password under the sign-up rules; every other token is revoked
    and the caller gets a fresh one, so this browser stays signed in."""
    check_password_strength(new_password)
    email = await verify_current_password(engine, hashing, limiter, identity, current_password, client_ip=client_ip)
    password_hash = await hashing.hash(new_password)
    version = await in_thread(_store_password, engine, identity, password_hash)
    return Session(user_id=identity.user_id, email=email,
                   access_token=issue_token(identity.user_id, settings, token_version=version))


def erase_user(engine: Engine, identity: Identity) -> list[uuid.UUID]:
    """Delete the user and everything they own in one transaction, children
    first (the foreign keys cascade too, which catches a row a concurrent
    turn adds meanwhile). Returns the answers that were still being written,
    so their turns can be told to stop."""
    user_id = identity.user_id
    with transaction(engine) as connection:
        # Taking the user's row first serialises with a concurrent password
        # change or revoke, and refuses a token revoked meanwhile.
        bump_version(connection, identity)
        conversations = select(Conversation.id).where(Conversation.user_id == user_id)
        messages = select(Message.id).where(Message.conversation_id.in_(conversations))
        running = list(connection.execute(
            select(Message.id).where(Message.conversation_id.in_(conversations), Message.status == "in_progress")
        ).scalars())
        connection.execute(delete(ToolCall).where(ToolCall.message_id.in_(messages)))
        connection.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
        connection.execute(delete(Conversation).where(Conversation.user_id == user_id))
        connection.execute(delete(Task).where(Task.user_id == user_id))
        connection.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id))
        connection.execute(delete(User).where(User.id == user_id))
    return running


async def delete_account(
    engine: Engine, hashing: PasswordHashing, limiter: RateLimiter | None, identity: Identity, *,
    password: str, client_ip: str, bus: TurnBus,
) -> None:
    """Erase the account once its password is confirmed. Turns still
    running for it are asked to stop, wherever they run; their answers are
    gone, so each ends as failed (and their tool tokens, naming a user that
    no longer exists, are refused by the MCP server at once)."""
    await verify_current_password(engine, hashing, limiter, identity, password, client_ip=client_ip)
    running = await in_thread(erase_user, engine, identity)
    for answer_id in running:
        try:
            await bus.request_stop(answer_id)
        except BusError:  # the turn still fails: its answer and its tool token are gone
            logger.warning("could not signal turn %s of a deleted account to stop", answer_id)
