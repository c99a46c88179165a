"""A turn as durable records: the user message and its answer, the answer's
lifecycle (in_progress -> complete | stopped | failed), its tool calls as
each finishes, and the idempotency key that names the turn.

Every function is one short transaction, run in a worker thread by the
pipeline (chatapp.services.turns). On PostgreSQL, what can be one statement
(a new conversation's first turn, finishing an answer, storing a tool call)
is one, in autocommit: a round trip is a wake-up of a database thread and a
server backend, and at low load it costs more than the work it carries.

One file, longer than two screens, because its statements share the
answer's lifecycle rules (which status may follow which); split, each
piece would have to restate them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, exists, insert, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from chatapp.db import Conversation, IdempotencyKey, Message, ToolCall, User
from chatapp.db.types import as_utc, utcnow
from chatapp.services.auth import Identity, check_identity
from chatapp.services.conversations import owned_conversation, title_from_message
from chatapp.services.database import one_statement, transaction
from chatapp.services.lifecycle import interrupt_cutoff, settle_in_page, settle_interrupted
from chatapp.services.errors import Conflict, IdempotencyMismatch, InvalidAuth, NotFound
from chatapp.services.messages import (
    MESSAGE_COLUMNS, StoredMessage, StoredToolCall, has_older, read_tail, read_window, stored_message,
)

RESPONSE_PAGE = 100
IDEMPOTENCY_TTL = timedelta(hours=24)

# The turn's own statements, built once: 0.3-0.7% of a turn each, about 2%
# together (bench/statements.py). Plain inserts are written where they run:
# insert(Message) builds in 0.03% of a turn.
def allocate_seq_statement() -> Any:
    """Reserve seqs and add tokens, only if the conversation is the user's
    (the row lock that numbers messages)."""
    return (
        update(Conversation)
        .where(Conversation.id == bindparam("b_conversation_id"), Conversation.user_id == bindparam("b_user_id"))
        .values(last_seq=Conversation.last_seq + bindparam("b_count"),
                token_total=Conversation.token_total + bindparam("b_tokens"), updated_at=bindparam("b_now"))
        .returning(Conversation.last_seq, Conversation.token_total)
    )


def insert_conversation_statement() -> Any:
    """A new conversation, only for a user whose token is still current."""
    columns = Conversation.__table__.c  # type: ignore[attr-defined]
    return insert(Conversation).from_select(
        ["id", "user_id", "title", "last_seq", "token_total", "created_at", "updated_at"],
        select(
            bindparam("id", type_=columns.id.type), User.id,
            bindparam("title", type_=columns.title.type),
            bindparam("last_seq", type_=columns.last_seq.type),
            bindparam("token_total", type_=columns.token_total.type),
            bindparam("created_at", type_=columns.created_at.type),
            bindparam("updated_at", type_=columns.updated_at.type),
        ).where(User.id == bindparam("b_user_id"), User.token_version == bindparam("b_version")),
    ).returning(Conversation.id)


MESSAGE_FIELDS = ["id", "seq", "role", "content", "status", "created_at", "token_count", "tokens_before",
                  "error_code", "reply_to", "started_at"]


def insert_first_turn_statement() -> Any:
    """PostgreSQL: a new conversation with its first user message (`q_…`)
    and in-progress answer (`a_…`) in one statement, so it runs without a
    transaction around it. Nothing is inserted for a user who is gone or
    whose token was revoked: the messages insert from the conversation row
    the checked insert returns."""
    conversation = insert_conversation_statement().cte("conversation")
    columns = Message.__table__.c  # type: ignore[attr-defined]

    def message(prefix: str) -> Any:
        return select(conversation.c.id,
                      *(bindparam(f"{prefix}_{name}", type_=columns[name].type) for name in MESSAGE_FIELDS))

    return (insert(Message).from_select(["conversation_id", *MESSAGE_FIELDS], union_all(message("q"), message("a")))
            .returning(Message.id))


def finish_answer_statement() -> Any:
    return (
        update(Message)
        .where(Message.id == bindparam("b_id"), Message.status == "in_progress")
        .values(content=bindparam("b_content"), status=bindparam("b_status"), error_code=bindparam("b_error_code"),
                token_count=bindparam("b_tokens"))
    )


def finish_answer_and_count_statement() -> Any:
    """PostgreSQL: the answer's final text and the conversation's running
    total in one statement, so it runs without a transaction around it; the
    total moves only if this statement is the one that finished the answer."""
    finished = finish_answer_statement().returning(Message.conversation_id).cte("finished")
    return add_tokens_statement(select(finished.c.conversation_id).scalar_subquery())


def add_tokens_statement(conversation_id: Any = None) -> Any:
    """Add `b_tokens` to a conversation's running total and move its
    updated_at; the conversation is `b_conversation_id` unless given."""
    target = bindparam("b_conversation_id") if conversation_id is None else conversation_id
    return (
        update(Conversation)
        .where(Conversation.id == target)
        .values(token_total=Conversation.token_total + bindparam("b_tokens"), updated_at=bindparam("b_now"))
    )


ALLOCATE_SEQ = allocate_seq_statement()
# The same, also checking that the token starting the turn is still current
# (not revoked by signing out everywhere or a new password): revocation
# rides in the statement the turn runs anyway, not in a query of its own.
TOKEN_CURRENT = exists().where(User.id == bindparam("b_user_id"), User.token_version == bindparam("b_version"))
ALLOCATE_SEQ_CHECKED = ALLOCATE_SEQ.where(TOKEN_CURRENT)
INSERT_CONVERSATION_CHECKED = insert_conversation_statement()
INSERT_FIRST_TURN = insert_first_turn_statement()
FINISH_ANSWER = finish_answer_statement()
FINISH_ANSWER_AND_COUNT = finish_answer_and_count_statement()
ADD_TOKENS = add_tokens_statement()


@dataclass
class StartedTurn:
    """A turn whose user message and in-progress answer are stored."""

    conversation_id: uuid.UUID
    user_message: StoredMessage
    answer: StoredMessage
    history: list[StoredMessage]  # the window the answer is written from, through the user message
    rerun: bool = False  # a retry or regenerate: the answer runs again under its old id
    begun_at: float = 0.0  # time.perf_counter() when the request entered the pipeline (for latency metrics)
    token_version: int = 0  # of the token that started it; its tool token carries the same


@dataclass(frozen=True)
class KeyUse:
    """An Idempotency-Key as presented: who, which key, for what."""

    user_id: uuid.UUID
    key: str
    route: str
    fingerprint: str


@dataclass(frozen=True)
class KnownTurn:
    """The key was used before: answer with that turn, start nothing."""

    conversation_id: uuid.UUID
    answer_id: uuid.UUID


def _insert_ignoring_conflict(connection: Connection) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(IdempotencyKey).on_conflict_do_nothing(index_elements=["user_id", "key"])


def claim_key(connection: Connection, use: KeyUse, *, conversation_id: uuid.UUID, answer_id: uuid.UUID) -> KnownTurn | None:
    """Claim the key for the turn about to be stored, in its transaction.
    A concurrent request with the same key waits on the key's row until this
    transaction ends, then finds it taken: it never starts a second turn."""
    now = utcnow()
    connection.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_TTL))
    claimed = connection.execute(
        _insert_ignoring_conflict(connection).values(
            user_id=use.user_id, key=use.key, route=use.route, fingerprint=use.fingerprint,
            conversation_id=conversation_id, answer_id=answer_id, created_at=now,
        ).returning(IdempotencyKey.key)  # rowcount is not reliable for ON CONFLICT on every driver
    ).first()
    if claimed is not None:
        return None
    row = connection.execute(
        select(IdempotencyKey.route, IdempotencyKey.fingerprint, IdempotencyKey.conversation_id, IdempotencyKey.answer_id)
        .where(IdempotencyKey.user_id == use.user_id, IdempotencyKey.key == use.key)
    ).one()
    if (row.route, row.fingerprint) != (use.route, use.fingerprint):
        raise IdempotencyMismatch("This Idempotency-Key was used for a different request. Use a new key.")
    return KnownTurn(row.conversation_id, row.answer_id)


def key_in_use(engine: Engine, use: KeyUse) -> bool:
    with transaction(engine) as connection:
        return connection.execute(
            select(IdempotencyKey.key).where(IdempotencyKey.user_id == use.user_id, IdempotencyKey.key == use.key)
        ).first() is not None


def allocate_seqs(
    connection: Connection, *, user_id: uuid.UUID, conversation_id: uuid.UUID, count: int, tokens: int,
    token_version: int | None = None,
) -> tuple[int, int]:
    """Reserve `count` seqs and add `tokens` to the running total; returns
    (the first seq, tokens before it). The UPDATE takes the conversation's
    row lock, so concurrent turns get gap-free, unique seqs; it also checks
    ownership, that the token is current (given its version), and moves
    updated_at, in one statement."""
    params = {"b_conversation_id": conversation_id, "b_user_id": user_id, "b_now": utcnow(), "b_count": count,
              "b_tokens": tokens}
    if token_version is not None:
        params["b_version"] = token_version
    row = connection.execute(ALLOCATE_SEQ if token_version is None else ALLOCATE_SEQ_CHECKED, params).first()
    if row is None:
        if token_version is not None:
            check_identity(connection, Identity(user_id, token_version))
        if connection.execute(select(User.id).where(User.id == user_id)).first() is None:
            raise InvalidAuth("Unknown user.")
        raise NotFound("Conversation not found.")
    return row[0] - count + 1, row[1] - tokens


def new_answer(conversation_id: uuid.UUID, *, seq: int, reply_to: uuid.UUID, tokens_before: int, answer_id: uuid.UUID | None = None) -> StoredMessage:
    now = utcnow()
    return StoredMessage(answer_id or uuid.uuid4(), seq, "assistant", "", "in_progress", now, 0, tokens_before,
                         None, reply_to, now)


def message_row(conversation_id: uuid.UUID, message: StoredMessage) -> dict[str, Any]:
    return {
        "id": message.id, "conversation_id": conversation_id, "seq": message.seq, "role": message.role,
        "content": message.content, "status": message.status, "created_at": message.created_at,
        "token_count": message.token_count, "tokens_before": message.tokens_before,
        "error_code": message.error_code, "reply_to": message.reply_to, "started_at": message.started_at,
    }


def conversation_row(conversation_id: uuid.UUID, content: str, tokens: int) -> dict[str, Any]:
    """A new conversation's row, its first two messages counted."""
    now = utcnow()
    return {"id": conversation_id, "title": title_from_message(content), "last_seq": 2, "token_total": tokens,
            "created_at": now, "updated_at": now}


def insert_conversation(
    connection: Connection, *, user_id: uuid.UUID, conversation_id: uuid.UUID, content: str, tokens: int,
    token_version: int | None,
) -> None:
    row = conversation_row(conversation_id, content, tokens)
    if token_version is None:
        connection.execute(insert(Conversation), {**row, "user_id": user_id})
        return
    inserted = connection.execute(
        INSERT_CONVERSATION_CHECKED, {**row, "b_user_id": user_id, "b_version": token_version}
    ).first()
    if inserted is None:  # nothing to insert from: the user is gone or the token revoked
        check_identity(connection, Identity(user_id, token_version))
        raise InvalidAuth("Unknown user.")


def store_new_turn(
    engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID | None, content: str, tokens: int,
    key: KeyUse | None, token_budget: int, turn_timeout_seconds: float, token_version: int | None = None,
    new_conversation_id: uuid.UUID | None = None, user_message_id: uuid.UUID | None = None,
) -> StartedTurn | KnownTurn:
    """Commit the user message and its in-progress answer together, with the
    history they are answered from, before the agent runs: a failing or
    crashed agent never loses what the person wrote and never leaves a turn
    nobody can see. With `token_version`, the first statement also refuses a
    revoked token (None: the caller checked the token itself)."""
    answer_id = uuid.uuid4()
    is_new = conversation_id is None
    conversation_id = conversation_id or new_conversation_id or uuid.uuid4()
    if is_new and key is None and token_version is not None and engine.dialect.name == "postgresql":
        return store_first_turn(engine, user_id=user_id, conversation_id=conversation_id, content=content,
                                tokens=tokens, token_version=token_version, answer_id=answer_id,
                                user_message_id=user_message_id)
    try:
        with transaction(engine) as connection:
            if key is not None:
                known = claim_key(connection, key, conversation_id=conversation_id, answer_id=answer_id)
                if known is not None:
                    if token_version is not None:  # a replay answers only a current token too
                        check_identity(connection, Identity(user_id, token_version))
                    return known
            if is_new:
                insert_conversation(connection, user_id=user_id, conversation_id=conversation_id, content=content,
                                    tokens=tokens, token_version=token_version)
                seq, tokens_before = 1, 0
            else:
                seq, tokens_before = allocate_seqs(
                    connection, user_id=user_id, conversation_id=conversation_id, count=2, tokens=tokens,
                    token_version=token_version,
                )
            now = utcnow()
            user_message = StoredMessage(user_message_id or uuid.uuid4(), seq, "user", content, "complete", now, tokens, tokens_before)
            answer = new_answer(conversation_id, seq=seq + 1, reply_to=user_message.id,
                                tokens_before=tokens_before + tokens, answer_id=answer_id)
            connection.execute(insert(Message), [message_row(conversation_id, user_message), message_row(conversation_id, answer)])
            # The history is read in the same transaction: if anything fails,
            # nothing is stored (the key included), so a retry starts afresh
            # instead of finding an answer in progress that nobody runs.
            history = [user_message] if seq == 1 else read_window(
                connection, conversation_id, through=user_message, limit=RESPONSE_PAGE, token_budget=token_budget
            )
            settle_in_page(connection, conversation_id, history, interrupt_cutoff(turn_timeout_seconds))
    except IntegrityError as error:
        # Only a user deleted meanwhile can break a foreign key here.
        raise InvalidAuth("Unknown user.") from error
    return StartedTurn(conversation_id, user_message, answer, history, token_version=token_version or 0)


def store_first_turn(
    engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID, content: str, tokens: int, token_version: int,
    answer_id: uuid.UUID, user_message_id: uuid.UUID | None,
) -> StartedTurn:
    """`store_new_turn` for a new conversation without an Idempotency-Key,
    on PostgreSQL: one statement in autocommit (one round trip, not four).
    Its history is the user message alone, so there is nothing to read."""
    conversation = conversation_row(conversation_id, content, tokens)
    user_message = StoredMessage(user_message_id or uuid.uuid4(), 1, "user", content, "complete",
                                 conversation["created_at"], tokens, 0)
    answer = new_answer(conversation_id, seq=2, reply_to=user_message.id, tokens_before=tokens, answer_id=answer_id)
    params = {
        **conversation, "b_user_id": user_id, "b_version": token_version,
        **{f"q_{name}": value for name, value in message_row(conversation_id, user_message).items()},
        **{f"a_{name}": value for name, value in message_row(conversation_id, answer).items()},
    }
    try:
        with one_statement(engine) as connection:
            stored = connection.execute(INSERT_FIRST_TURN, params).all()
            if not stored:  # nothing to insert from: the user is gone or the token revoked
                check_identity(connection, Identity(user_id, token_version))
                raise InvalidAuth("Unknown user.")
    except IntegrityError as error:
        raise InvalidAuth("Unknown user.") from error
    return StartedTurn(conversation_id, user_message, answer, [user_message], token_version=token_version)


def _last_user_message(connection: Connection, conversation_id: uuid.UUID) -> StoredMessage | None:
    row = connection.execute(
        select(*MESSAGE_COLUMNS).where(Message.conversation_id == conversation_id, Message.role == "user")
        .order_by(Message.seq.desc()).limit(1)
    ).first()
    return stored_message(row) if row else None


def _answer_to(connection: Connection, conversation_id: uuid.UUID, user_message: StoredMessage) -> StoredMessage | None:
    row = connection.execute(
        select(*MESSAGE_COLUMNS).where(
            Message.conversation_id == conversation_id, Message.role == "assistant", Message.reply_to == user_message.id
        ).order_by(Message.seq.desc()).limit(1)
    ).first()
    return stored_message(row) if row else None


@dataclass(frozen=True)
class Edit:
    """Edit and resend: the last user message's new text."""

    message_id: uuid.UUID
    content: str
    tokens: int


def _edit_last_user_message(
    connection: Connection, conversation_id: uuid.UUID, user_message: StoredMessage | None, edit: Edit,
) -> StoredMessage:
    """Only the last user message can be edited: what came after any other
    one was answered from it. Its new token count shifts `tokens_before` of
    what follows it (its answer), so history windows stay exact."""
    if user_message is None or user_message.id != edit.message_id:
        exists = connection.execute(
            select(Message.id).where(Message.conversation_id == conversation_id, Message.id == edit.message_id)
        ).first()
        if exists is None:
            raise NotFound("Message not found.", conversation_id=conversation_id)
        raise Conflict("Only the last message you sent can be edited.", conversation_id=conversation_id)
    delta = edit.tokens - user_message.token_count
    connection.execute(update(Message).where(Message.id == user_message.id).values(content=edit.content, token_count=edit.tokens))
    if delta:
        connection.execute(
            update(Message).where(Message.conversation_id == conversation_id, Message.seq > user_message.seq)
            .values(tokens_before=Message.tokens_before + delta)
        )
        connection.execute(ADD_TOKENS, {"b_conversation_id": conversation_id, "b_tokens": delta, "b_now": utcnow()})
    user_message.content, user_message.token_count = edit.content, edit.tokens
    return user_message


def store_answer_again(
    engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID, regenerate: bool, key: KeyUse | None,
    token_budget: int, turn_timeout_seconds: float, token_version: int | None = None, edit: Edit | None = None,
) -> StartedTurn | KnownTurn:
    """Retry (a failed or missing answer) or regenerate (any finished
    answer) the last user message, or edit it and answer it again (any
    answer but one being written): its answer is reset to in progress in
    place (same id, same seq), so seq stays gap-free and the user message is
    never stored twice. Two concurrent attempts: one wins, the other is a
    conflict."""
    with transaction(engine) as connection:
        if token_version is not None:  # retry and regenerate are rare: a statement of its own is fine
            check_identity(connection, Identity(user_id, token_version))
        owned_conversation(connection, user_id=user_id, conversation_id=conversation_id)
        settle_interrupted(connection, conversation_id, interrupt_cutoff(turn_timeout_seconds))
        user_message = _last_user_message(connection, conversation_id)
        answer = _answer_to(connection, conversation_id, user_message) if user_message else None
        answer_id = answer.id if answer else uuid.uuid4()
        if key is not None:  # a replay is answered before any state check
            known = claim_key(connection, key, conversation_id=conversation_id, answer_id=answer_id)
            if known is not None:
                return known
        shift = 0  # how many tokens the edit added before the answer
        if edit is not None:
            if answer is not None and answer.status == "in_progress":
                raise Conflict("The answer is still being written. Stop it first, or wait.", conversation_id=conversation_id)
            shift = edit.tokens - user_message.token_count if user_message else 0
            user_message = _edit_last_user_message(connection, conversation_id, user_message, edit)
        if user_message is None or (regenerate and answer is None and edit is None):
            raise Conflict("There is no answer to " + ("regenerate." if regenerate else "retry."), conversation_id=conversation_id)
        if answer is not None and answer.status == "in_progress":
            raise Conflict("The answer is still being written. Stop it first, or wait.", conversation_id=conversation_id)
        if not regenerate and answer is not None and answer.status != "failed":
            raise Conflict("The last message already has an answer; regenerate it instead.", conversation_id=conversation_id)
        if answer is None:
            seq, tokens_before = allocate_seqs(connection, user_id=user_id, conversation_id=conversation_id, count=1, tokens=0)
            answer = new_answer(conversation_id, seq=seq, reply_to=user_message.id, tokens_before=tokens_before, answer_id=answer_id)
            connection.execute(insert(Message), [message_row(conversation_id, answer)])
        else:
            now = utcnow()
            reset = connection.execute(
                update(Message).where(Message.id == answer.id, Message.status == answer.status)
                .values(status="in_progress", content="", error_code=None, token_count=0, started_at=now)
            ).rowcount
            if not reset:
                raise Conflict("Another request is already answering this message.", conversation_id=conversation_id)
            connection.execute(delete(ToolCall).where(ToolCall.message_id == answer.id))
            connection.execute(ADD_TOKENS, {"b_conversation_id": conversation_id, "b_tokens": -answer.token_count, "b_now": now})
            answer = new_answer(conversation_id, seq=answer.seq, reply_to=user_message.id,
                                tokens_before=answer.tokens_before + shift,
                                answer_id=answer.id)
        history = read_window(connection, conversation_id, through=user_message, limit=RESPONSE_PAGE, token_budget=token_budget)
    return StartedTurn(conversation_id, history[-1], answer, history, rerun=True, token_version=token_version or 0)


def store_tool_call(engine: Engine, *, answer_id: uuid.UUID, position: int, call: StoredToolCall) -> None:
    """Each tool call lands as it finishes: a turn that fails later still
    shows what its tools did."""
    try:
        with one_statement(engine) as connection:
            connection.execute(
                insert(ToolCall),
                {"id": call.id, "message_id": answer_id, "position": position, "call_id": call.call_id,
                 "tool_name": call.tool_name, "parameters": call.parameters, "result": call.result,
                 "executed_at": call.executed_at},
            )
    except IntegrityError as error:
        raise NotFound("The conversation was deleted during the turn.") from error


def finish_answer(
    engine: Engine, *, conversation_id: uuid.UUID, answer: StoredMessage, status: str, error_code: str | None = None,
) -> bool:
    """Store the answer's final text and status. False when it was no
    longer in progress (deleted with its conversation, or settled)."""
    params = {"b_id": answer.id, "b_content": answer.content, "b_status": status, "b_error_code": error_code,
              "b_tokens": answer.token_count}
    if engine.dialect.name == "postgresql":
        with one_statement(engine) as connection:
            finished = connection.execute(FINISH_ANSWER_AND_COUNT, {**params, "b_now": utcnow()}).rowcount
    else:
        with transaction(engine) as connection:
            finished = connection.execute(FINISH_ANSWER, params).rowcount
            if finished:
                connection.execute(ADD_TOKENS, {"b_conversation_id": conversation_id, "b_tokens": answer.token_count,
                                                "b_now": utcnow()})
    if finished:
        answer.status, answer.error_code = status, error_code
    return bool(finished)


def response_page(history: list[StoredMessage], answer: StoredMessage) -> tuple[list[StoredMessage], bool]:
    page = (history + [answer])[-RESPONSE_PAGE:]
    return page, has_older(page)


def read_answer(engine: Engine, *, user_id: uuid.UUID, answer_id: uuid.UUID, turn_timeout_seconds: float) -> tuple[uuid.UUID, list[StoredMessage]] | None:
    """A stored turn as /chat answers it: the page of messages through its
    answer (settling it first if its worker died). None if it is gone."""
    with transaction(engine) as connection:
        row = connection.execute(
            select(Message.conversation_id, Message.seq).join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.id == answer_id, Conversation.user_id == user_id)
        ).first()
        if row is None:
            return None
        page = read_tail(connection, row.conversation_id, limit=RESPONSE_PAGE, before_seq=row.seq + 1)
        settle_in_page(connection, row.conversation_id, page, interrupt_cutoff(turn_timeout_seconds))
    return row.conversation_id, page


def running_answers(engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID, turn_timeout_seconds: float) -> list[uuid.UUID]:
    """The answers being written in a conversation, newest first (dead ones
    are settled on the way)."""
    with transaction(engine) as connection:
        owned_conversation(connection, user_id=user_id, conversation_id=conversation_id)
        rows = connection.execute(
            select(Message.id, Message.started_at)
            .where(Message.conversation_id == conversation_id, Message.status == "in_progress")
            .order_by(Message.seq.desc())
        ).all()
        cutoff = interrupt_cutoff(turn_timeout_seconds)
        alive = [row.id for row in rows if row.started_at is not None and as_utc(row.started_at) >= cutoff]
        if len(alive) < len(rows):
            settle_interrupted(connection, conversation_id, cutoff)
    return alive
