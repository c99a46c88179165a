"""The stateless chat turn.

authenticate (caller) → load or create the conversation → commit the user
message in its own transaction → rebuild history from the database → run the
agent (tools over MCP) → commit the assistant message and its tool calls
together → return the latest page. Nothing survives in memory between turns,
so any worker can serve any turn and a crash loses at most the reply being
written.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatapp.agent.assistant import AgentReply, run_assistant
from chatapp.agent.task_tools import TurnContext
from chatapp.config import Settings, get_settings
from chatapp.db import Conversation, Message, ToolCall, User
from chatapp.db.types import utcnow
from chatapp.services.auth import issue_tool_token
from chatapp.services.conversations import owned_conversation, title_from_message
from chatapp.services.database import in_thread, is_unavailable, transaction
from chatapp.services.errors import AgentFailed, AgentTimeout, InvalidAuth, InvalidInput, NotFound, ServiceError, Unavailable
from chatapp.services.history import rebuild_history
from chatapp.services.tokens import message_tokens
from chatapp.services.messages import StoredMessage, StoredToolCall, has_older, read_tail, read_window

MAX_MESSAGE_CHARS = 5000
RESPONSE_PAGE = 100
# Hot-path statements, built once: constructing them costs more than running them.
NEXT_SEQ = (
    update(Conversation)
    .where(Conversation.id == bindparam("b_conversation_id"), Conversation.user_id == bindparam("b_user_id"))
    .values(last_seq=Conversation.last_seq + 1, token_total=Conversation.token_total + bindparam("b_tokens"),
            updated_at=bindparam("b_now"))
    .returning(Conversation.last_seq, Conversation.token_total)
)
INSERT_MESSAGE = insert(Message)
INSERT_CONVERSATION = insert(Conversation)
INSERT_TOOL_CALLS = insert(ToolCall)


@dataclass
class TurnResult:
    conversation_id: uuid.UUID
    messages: list[StoredMessage]
    has_more: bool

    def view(self) -> dict[str, Any]:
        return {
            "status": "success",
            "conversation_id": str(self.conversation_id),
            "messages": [message.view() for message in self.messages],
            "has_more": self.has_more,
        }


@dataclass
class StartedTurn:
    conversation_id: uuid.UUID
    user_message: StoredMessage
    history: list[StoredMessage]


def validate_message(message: Any) -> str:
    if not isinstance(message, str):
        raise InvalidInput("message must be a string.")
    if not message.strip():
        raise InvalidInput("message must not be empty.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise InvalidInput(f"message is longer than {MAX_MESSAGE_CHARS} characters.")
    return message.strip()


def tool_token(user_id: uuid.UUID, settings: Settings) -> str:
    """A short-lived token the MCP server authenticates, so the tools act as
    exactly this user for exactly this turn. Its only audience is the MCP
    server: the REST API refuses it."""
    return issue_tool_token(user_id, settings, settings.turn_timeout_seconds + 60)


def next_seq(connection: Connection, *, user_id: uuid.UUID, conversation_id: uuid.UUID, tokens: int) -> tuple[int, int] | None:
    """Allocate the next seq and add the message's tokens to the running
    total; returns (seq, tokens before the message). The UPDATE takes the
    conversation's row lock, so concurrent turns get 1, 2, 3... without
    gaps; it also checks ownership and moves updated_at, in one statement."""
    row = connection.execute(
        NEXT_SEQ, {"b_conversation_id": conversation_id, "b_user_id": user_id, "b_now": utcnow(), "b_tokens": tokens}
    ).first()
    return None if row is None else (row[0], row[1] - tokens)


def insert_message(
    connection: Connection, *, conversation_id: uuid.UUID, seq: int, role: str, content: str,
    status: str = "complete", token_count: int, tokens_before: int,
) -> StoredMessage:
    message = StoredMessage(uuid.uuid4(), seq, role, content, status, utcnow(), token_count, tokens_before)
    connection.execute(
        INSERT_MESSAGE,
        {"id": message.id, "conversation_id": conversation_id, "seq": seq, "role": role, "content": content,
         "status": status, "created_at": message.created_at, "token_count": token_count,
         "tokens_before": tokens_before},
    )
    return message


def persist_user_message(
    engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID | None, content: str
) -> tuple[uuid.UUID, StoredMessage]:
    """Commit the user's message on its own, before the agent runs, so a
    failing or crashing agent never loses what the person wrote."""
    tokens = message_tokens(content)
    try:
        with transaction(engine) as connection:
            if conversation_id is None:
                conversation_id = uuid.uuid4()
                now = utcnow()
                connection.execute(
                    INSERT_CONVERSATION,
                    {"id": conversation_id, "user_id": user_id, "title": title_from_message(content),
                     "last_seq": 1, "token_total": tokens, "created_at": now, "updated_at": now},
                )
                allocated: tuple[int, int] | None = (1, 0)
            else:
                allocated = next_seq(connection, user_id=user_id, conversation_id=conversation_id, tokens=tokens)
                if allocated is None:
                    exists = connection.execute(select(User.id).where(User.id == user_id)).first()
                    if exists is None:
                        raise InvalidAuth("Unknown user.")
                    raise NotFound("Conversation not found.")
            seq, tokens_before = allocated
            message = insert_message(
                connection, conversation_id=conversation_id, seq=seq, role="user", content=content,
                token_count=tokens, tokens_before=tokens_before,
            )
    except IntegrityError as error:
        # Only the new-conversation path can break a foreign key: the user is gone.
        raise InvalidAuth("Unknown user.") from error
    return conversation_id, message


def read_history(engine: Engine, *, conversation_id: uuid.UUID, through: StoredMessage, token_budget: int) -> list[StoredMessage]:
    """The response page and the model's window in one read: the latest
    RESPONSE_PAGE messages plus older ones that fit the token budget."""
    with transaction(engine) as connection:
        return read_window(connection, conversation_id, through=through, limit=RESPONSE_PAGE, token_budget=token_budget)


def persist_assistant_message(
    engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID, reply: AgentReply, status: str = "complete"
) -> StoredMessage:
    """The reply and its tool calls land together or not at all."""
    calls = [(call.tool_name, call.parameters, call.result) for call in reply.tool_calls]
    tokens = message_tokens(reply.text, calls)
    with transaction(engine) as connection:
        allocated = next_seq(connection, user_id=user_id, conversation_id=conversation_id, tokens=tokens)
        if allocated is None:
            raise NotFound("The conversation was deleted during the turn.")
        seq, tokens_before = allocated
        message = insert_message(
            connection, conversation_id=conversation_id, seq=seq, role="assistant", content=reply.text, status=status,
            token_count=tokens, tokens_before=tokens_before,
        )
        message.tool_calls = [
            StoredToolCall(uuid.uuid4(), call.call_id, call.tool_name, call.parameters, call.result, message.created_at)
            for call in reply.tool_calls
        ]
        if message.tool_calls:
            connection.execute(
                INSERT_TOOL_CALLS,
                [
                    {
                        "id": call.id, "message_id": message.id, "position": position, "call_id": call.call_id,
                        "tool_name": call.tool_name, "parameters": call.parameters, "result": call.result,
                        "executed_at": call.executed_at,
                    }
                    for position, call in enumerate(message.tool_calls)
                ],
            )
    return message


def begin_turn(
    engine: Engine, *, user_id: uuid.UUID, content: str, conversation_id: uuid.UUID | None, token_budget: int
) -> StartedTurn:
    """Store the user message (committed on its own), then read the history
    it is answered from: two transactions, one trip to a worker thread."""
    conversation_id, user_message = persist_user_message(
        engine, user_id=user_id, conversation_id=conversation_id, content=content
    )
    if user_message.seq == 1:
        return StartedTurn(conversation_id, user_message, [user_message])  # nothing else to read
    history = read_history(engine, conversation_id=conversation_id, through=user_message, token_budget=token_budget)
    return StartedTurn(conversation_id, user_message, history)


async def start_turn(
    engine: Engine, *, user_id: uuid.UUID, message: Any, conversation_id: uuid.UUID | None, settings: Settings | None = None
) -> StartedTurn:
    settings = settings or get_settings()
    content = validate_message(message)
    return await in_thread(
        begin_turn, engine, user_id=user_id, content=content, conversation_id=conversation_id,
        token_budget=settings.history_token_budget,
    )


async def run_agent(engine: Engine, started: StartedTurn, *, user_id: uuid.UUID, settings: Settings) -> AgentReply:
    context = TurnContext(tool_token=tool_token(user_id, settings))
    items = rebuild_history(started.history, token_budget=settings.history_token_budget)
    try:
        async with asyncio.timeout(settings.turn_timeout_seconds):
            return await run_assistant(settings, context, items)
    except Exception as error:
        raise turn_failure(error, conversation_id=started.conversation_id, settings=settings) from error


def turn_failure(error: BaseException, *, conversation_id: uuid.UUID, settings: Settings) -> ServiceError:
    """What a failed agent run means to the caller; the user message is
    already stored either way."""
    if isinstance(error, ServiceError):
        error.conversation_id = error.conversation_id or conversation_id
        return error
    if isinstance(error, TimeoutError):
        return AgentTimeout(
            f"The assistant did not answer within {settings.turn_timeout_seconds:g} seconds. Your message was saved; try again.",
            conversation_id=conversation_id,
        )
    if is_unavailable(error):
        return Unavailable("The database is unavailable. Try again shortly.", conversation_id=conversation_id)
    return AgentFailed("The assistant failed to answer. Your message was saved; try again.", conversation_id=conversation_id)


def response_page(history: list[StoredMessage], reply: StoredMessage) -> tuple[list[StoredMessage], bool]:
    page = (history + [reply])[-RESPONSE_PAGE:]
    return page, has_older(page)


async def chat_turn(
    engine: Engine,
    *,
    user_id: uuid.UUID,
    message: Any,
    conversation_id: uuid.UUID | None = None,
    settings: Settings | None = None,
) -> TurnResult:
    settings = settings or get_settings()
    started = await start_turn(engine, user_id=user_id, message=message, conversation_id=conversation_id, settings=settings)
    return await answer(engine, started, user_id=user_id, settings=settings)


async def answer(engine: Engine, started: StartedTurn, *, user_id: uuid.UUID, settings: Settings) -> TurnResult:
    """Run the agent on a stored user message and store its reply."""
    reply = await run_agent(engine, started, user_id=user_id, settings=settings)
    try:
        stored = await in_thread(
            persist_assistant_message, engine, user_id=user_id, conversation_id=started.conversation_id, reply=reply
        )
    except ServiceError as error:
        error.conversation_id = started.conversation_id
        raise
    page, more = response_page(started.history, stored)
    return TurnResult(started.conversation_id, page, more)


def last_message(connection: Connection, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> StoredMessage | None:
    owned_conversation(connection, user_id=user_id, conversation_id=conversation_id)
    latest = read_tail(connection, conversation_id, limit=1)
    return latest[-1] if latest else None


def read_unanswered(engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID, token_budget: int) -> StartedTurn:
    with transaction(engine) as connection:
        latest = last_message(connection, user_id=user_id, conversation_id=conversation_id)
        if latest is None or latest.role != "user":
            raise InvalidInput("The last message already has a reply.", conversation_id=conversation_id)
        history = read_window(connection, conversation_id, through=latest, limit=RESPONSE_PAGE, token_budget=token_budget)
    return StartedTurn(conversation_id, history[-1], history)


async def answer_last_message(
    engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID, settings: Settings | None = None
) -> TurnResult:
    """Retry after a failed turn: answer the stored last user message
    without storing it a second time."""
    settings = settings or get_settings()
    started = await in_thread(
        read_unanswered, engine, user_id=user_id, conversation_id=conversation_id,
        token_budget=settings.history_token_budget,
    )
    return await answer(engine, started, user_id=user_id, settings=settings)


def discard_last_reply(engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
    """Regenerate, step one: remove the last reply so the stored last user
    message can be answered again. seq and the token total go back with it,
    so seq stays gap-free; the UPDATE only matches while that reply is still
    the last message, so a concurrent turn is never undone."""
    with transaction(engine) as connection:
        latest = last_message(connection, user_id=user_id, conversation_id=conversation_id)
        if latest is None or latest.role != "assistant":
            raise InvalidInput("There is no reply to regenerate.", conversation_id=conversation_id)
        reply = latest
        moved = connection.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.last_seq == reply.seq)
            .values(last_seq=reply.seq - 1, token_total=Conversation.token_total - reply.token_count)
        ).rowcount
        if not moved:
            raise InvalidInput("The conversation moved on; nothing to regenerate.", conversation_id=conversation_id)
        connection.execute(delete(Message).where(Message.id == reply.id))
