"""ChatKit's `Store` over chatapp's own tables: a thread is a conversation,
an item is a message or one of an answer's tool calls. There is no second
copy of anything, so a thread made here shows in REST and the web UI, and
the reverse.

Writes are the turn pipeline's: the SDK hands every finished item (the user
message first) to `add_thread_item`, but the pipeline has already stored it
once, under the same id, so those calls store nothing.

Item ids: a message's id is its UUID; a tool call's is `<answer id>.tool<n>`
(its position in the answer), which the live stream can name before the
row exists and a reload reads back the same.

It is one file because it implements one SDK interface (`Store`), whose
methods share the item-id mapping above.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from chatkit.store import Store
from chatkit.types import (
    AssistantMessageContent, AssistantMessageItem, Attachment, CustomTask, InferenceOptions, Page, TaskItem,
    ThreadItem, ThreadMetadata, UserMessageItem, UserMessageTextContent,
)
from sqlalchemy import Connection, Engine, and_, or_, select

from chatapp.db import Conversation, Message
from chatapp.db.types import as_utc
from chatapp.services import conversations
from chatapp.services.database import in_thread, transaction
from chatapp.services.errors import InvalidInput, NotFound
from chatapp.services.messages import (
    MESSAGE_COLUMNS, StoredMessage, StoredToolCall, read_tail, rows_to_messages, with_tool_calls,
)
from chatapp.services.text import check_text
from chatapp.services.lifecycle import interrupt_cutoff, settle_in_page

MAX_PAGE = 100
TOOL_MARK = ".tool"
# Ids named by an Idempotency-Key: a resent request names the same thread
# and message, so the pipeline's key check finds the turn it already stored.
KEYED_IDS = uuid.UUID("6a0f3f7e-5b7c-4c41-9d0e-2f1c8a9b7d30")


@dataclass
class ChatKitContext:
    """One request's context: who asks, and what this request's turn has
    begun, so a disconnect can stop it."""

    user_id: uuid.UUID
    token_version: int | None = None  # of the caller's token: the turn refuses it once revoked
    idempotency_key: str | None = None
    new_thread_ids: set[str] = field(default_factory=set)
    new_message_ids: set[str] = field(default_factory=set)
    conversation_id: uuid.UUID | None = None
    answer_id: uuid.UUID | None = None


def keyed_id(context: ChatKitContext, kind: str) -> str:
    if context.idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(KEYED_IDS, f"{context.user_id}\n{kind}\n{context.idempotency_key}"))


def thread_uuid(thread_id: str) -> uuid.UUID:
    """Thread ids are opaque to a ChatKit client: one that is not ours is
    simply not found."""
    try:
        return uuid.UUID(thread_id)
    except (ValueError, AttributeError, TypeError):
        raise NotFound("Thread not found.") from None


def page_limit(limit: int | None, default: int) -> int:
    """The web component picks its own page sizes; more than MAX_PAGE gets
    MAX_PAGE (`has_more` says the rest), less than one is a bad request."""
    if limit is None:
        return default
    if limit < 1:
        raise InvalidInput("limit must be at least 1.")
    return min(limit, MAX_PAGE)


def tool_item_id(answer_id: uuid.UUID | str, position: int) -> str:
    return f"{answer_id}{TOOL_MARK}{position}"


def parse_item_id(item_id: str) -> tuple[uuid.UUID, int | None]:
    """(message id, tool position or None); NotFound if it is no item id."""
    message_part, _, position = item_id.partition(TOOL_MARK)
    try:
        return uuid.UUID(message_part), (int(position) if position else None)
    except ValueError:
        raise NotFound("No such item in this thread.") from None


# ---- rows -> ChatKit types ------------------------------------------------------

def thread_metadata(row: Any) -> ThreadMetadata:
    return ThreadMetadata(id=str(row.id), title=row.title, created_at=as_utc(row.created_at))


def tool_task(tool_name: str, parameters: dict[str, Any], result: Any, *, done: bool) -> CustomTask:
    """A tool call as ChatKit shows work the server did: a task with the
    tool's name, its arguments and (once finished) its result."""
    lines = [f"Parameters: {json.dumps(parameters, ensure_ascii=False)}"]
    if done:
        lines.append(f"Result: {json.dumps(result, ensure_ascii=False, default=str)}")
    return CustomTask(title=tool_name, icon="check-circle" if done else "bolt", content="\n".join(lines),
                      status_indicator="complete" if done else "loading")


def tool_item(thread_id: str, answer_id: uuid.UUID | str, position: int, call: StoredToolCall) -> TaskItem:
    return TaskItem(id=tool_item_id(answer_id, position), thread_id=thread_id, created_at=as_utc(call.executed_at),
                    task=tool_task(call.tool_name, call.parameters, call.result, done=True))


def user_item(thread_id: str, message: StoredMessage) -> UserMessageItem:
    return UserMessageItem(id=str(message.id), thread_id=thread_id, created_at=as_utc(message.created_at),
                           content=[UserMessageTextContent(text=message.content)], attachments=[],
                           inference_options=InferenceOptions())


def assistant_item(thread_id: str, answer_id: uuid.UUID | str, text: str, created_at: Any) -> AssistantMessageItem:
    return AssistantMessageItem(id=str(answer_id), thread_id=thread_id, created_at=as_utc(created_at),
                                content=[AssistantMessageContent(text=text)])


ItemKey = tuple[int, int, int]  # (seq, 0 for a tool call / 1 for text, position)


def message_items(thread_id: str, message: StoredMessage) -> list[tuple[ItemKey, ThreadItem]]:
    """A user message is one item; an answer is its tool calls, then its
    text (an answer with no text yet, or failed before any, shows none)."""
    if message.role == "user":
        return [((message.seq, 1, 0), user_item(thread_id, message))]
    items: list[tuple[ItemKey, ThreadItem]] = [
        ((message.seq, 0, position), tool_item(thread_id, message.id, position, call))
        for position, call in enumerate(message.tool_calls)
    ]
    if message.content:
        items.append(((message.seq, 1, 0), assistant_item(thread_id, message.id, message.content, message.created_at)))
    return items


# ---- reads (each one short transaction, in a worker thread) -------------------------

def read_thread(engine: Engine, *, user_id: uuid.UUID, thread_id: str) -> ThreadMetadata:
    with transaction(engine) as connection:
        row = conversations.owned_conversation(connection, user_id=user_id, conversation_id=thread_uuid(thread_id))
    return thread_metadata(row)


def conversation_exists(engine: Engine, *, user_id: uuid.UUID, thread_id: str) -> bool:
    try:
        read_thread(engine, user_id=user_id, thread_id=thread_id)
    except NotFound:
        return False
    return True


def read_threads(engine: Engine, *, user_id: uuid.UUID, limit: int, after: str | None, order: str) -> Page[ThreadMetadata]:
    """Most recently active first ("desc"), as REST and the web UI list
    them; `after` is the last thread of the previous page."""
    newest_first = order != "asc"
    columns = (Conversation.id, Conversation.title, Conversation.created_at, Conversation.updated_at)
    with transaction(engine) as connection:
        query = select(*columns).where(Conversation.user_id == user_id)
        if after is not None:
            cursor = connection.execute(
                select(Conversation.updated_at, Conversation.id)
                .where(Conversation.id == _cursor_thread(after), Conversation.user_id == user_id)
            ).first()
            if cursor is None:
                raise NotFound("after names no thread of yours.")
            if newest_first:
                query = query.where(or_(Conversation.updated_at < cursor.updated_at,
                                        and_(Conversation.updated_at == cursor.updated_at, Conversation.id < cursor.id)))
            else:
                query = query.where(or_(Conversation.updated_at > cursor.updated_at,
                                        and_(Conversation.updated_at == cursor.updated_at, Conversation.id > cursor.id)))
        if newest_first:
            query = query.order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        else:
            query = query.order_by(Conversation.updated_at, Conversation.id)
        rows = connection.execute(query.limit(limit + 1)).all()
    data = [thread_metadata(row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page(data=data, has_more=more, after=data[-1].id if more else None)


def _cursor_thread(after: str) -> uuid.UUID:
    try:
        return uuid.UUID(after)
    except ValueError:
        raise NotFound("after names no thread of yours.") from None


def _messages_from(connection: Connection, conversation_id: uuid.UUID, *, seq: int, count: int) -> list[StoredMessage]:
    """Up to `count` messages from `seq` on, oldest first, with tool calls."""
    page = (select(*MESSAGE_COLUMNS).where(Message.conversation_id == conversation_id, Message.seq >= seq)
            .order_by(Message.seq).limit(count).subquery())
    return rows_to_messages(connection.execute(with_tool_calls(page)).all())


def read_items(
    engine: Engine, *, user_id: uuid.UUID, thread_id: str, after: str | None, limit: int, order: str,
    turn_timeout_seconds: float,
) -> Page[ThreadItem]:
    """A page of items after the cursor item, in seq order ("asc") or
    newest first ("desc"). Messages are read in chunks until the page is
    full, since a message can hold several items (an answer's tool calls)
    or none (an answer without text)."""
    conversation_id = thread_uuid(thread_id)
    ascending = order == "asc"
    chunk = limit + 2
    with transaction(engine) as connection:
        conversations.owned_conversation(connection, user_id=user_id, conversation_id=conversation_id)
        cursor: ItemKey | None = None
        if after is not None:
            cursor = _item_key(connection, conversation_id, after)
        collected: list[tuple[ItemKey, ThreadItem]] = []
        if ascending:
            next_seq = cursor[0] if cursor else 1
        else:
            next_seq = cursor[0] + 1 if cursor else None
        while len(collected) <= limit:
            if ascending:
                messages = _messages_from(connection, conversation_id, seq=next_seq, count=chunk)
            else:
                if next_seq is not None and next_seq <= 1:
                    break
                messages = read_tail(connection, conversation_id, limit=chunk, before_seq=next_seq)
            if not messages:
                break
            settle_in_page(connection, conversation_id, messages, interrupt_cutoff(turn_timeout_seconds))
            keyed = [pair for message in messages for pair in message_items(thread_id, message)]
            if not ascending:
                keyed.reverse()
            collected.extend(pair for pair in keyed if cursor is None or _beyond(pair[0], cursor, ascending))
            if len(messages) < chunk:
                break
            next_seq = messages[-1].seq + 1 if ascending else messages[0].seq
    data = [item for _, item in collected[:limit]]
    more = len(collected) > limit
    return Page(data=data, has_more=more, after=data[-1].id if more else None)


def _beyond(key: ItemKey, cursor: ItemKey, ascending: bool) -> bool:
    return key > cursor if ascending else key < cursor


def _item_key(connection: Connection, conversation_id: uuid.UUID, item_id: str) -> ItemKey:
    message_id, position = parse_item_id(item_id)
    seq = connection.execute(
        select(Message.seq).where(Message.id == message_id, Message.conversation_id == conversation_id)
    ).scalar()
    if seq is None:
        raise NotFound("after names no item of this thread.")
    return (seq, 0, position) if position is not None else (seq, 1, 0)


def read_item(engine: Engine, *, user_id: uuid.UUID, thread_id: str, item_id: str) -> ThreadItem:
    conversation_id = thread_uuid(thread_id)
    message_id, position = parse_item_id(item_id)
    with transaction(engine) as connection:
        conversations.owned_conversation(connection, user_id=user_id, conversation_id=conversation_id)
        seq = connection.execute(
            select(Message.seq).where(Message.id == message_id, Message.conversation_id == conversation_id)
        ).scalar()
        messages = read_tail(connection, conversation_id, limit=1, before_seq=seq + 1) if seq is not None else []
    wanted = tool_item_id(message_id, position) if position is not None else str(message_id)
    for message in messages:
        for _, item in message_items(thread_id, message):
            if item.id == wanted:
                return item
    raise NotFound("Item not found.")


@dataclass(frozen=True)
class LastTurn:
    """The conversation's last user message and the state of its answer."""

    user_message_id: uuid.UUID | None
    answer_status: str | None


def read_last_turn(engine: Engine, *, user_id: uuid.UUID, thread_id: str) -> LastTurn:
    conversation_id = thread_uuid(thread_id)
    with transaction(engine) as connection:
        conversations.owned_conversation(connection, user_id=user_id, conversation_id=conversation_id)
        user_message = connection.execute(
            select(Message.id).where(Message.conversation_id == conversation_id, Message.role == "user")
            .order_by(Message.seq.desc()).limit(1)
        ).scalar()
        status = None if user_message is None else connection.execute(
            select(Message.status).where(Message.conversation_id == conversation_id, Message.reply_to == user_message)
            .order_by(Message.seq.desc()).limit(1)
        ).scalar()
    return LastTurn(user_message, status)


# ---- the Store --------------------------------------------------------------------

class ChatappStore(Store[ChatKitContext]):
    def __init__(self, engine: Engine, *, turn_timeout_seconds: float) -> None:
        self.engine = engine
        self.turn_timeout_seconds = turn_timeout_seconds

    def generate_thread_id(self, context: ChatKitContext) -> str:
        """A conversation id, remembered as not yet stored: the turn
        pipeline creates the conversation with the thread's first message,
        exactly as `/chat` does (title from the message, seq from 1)."""
        thread_id = keyed_id(context, "thread")
        context.new_thread_ids.add(thread_id)
        return thread_id

    def generate_item_id(self, item_type: Any, thread: ThreadMetadata, context: ChatKitContext) -> str:
        """The id the pipeline stores the user message under."""
        if item_type != "message":
            return str(uuid.uuid4())
        item_id = keyed_id(context, "message")
        context.new_message_ids.add(item_id)
        return item_id

    async def load_thread(self, thread_id: str, context: ChatKitContext) -> ThreadMetadata:
        return await in_thread(read_thread, self.engine, user_id=context.user_id, thread_id=thread_id)

    async def save_thread(self, thread: ThreadMetadata, context: ChatKitContext) -> None:
        """A new thread is stored by its first turn; an existing one can
        only be renamed here."""
        if thread.id in context.new_thread_ids and context.conversation_id is None:
            return
        if thread.title is None:
            await self.load_thread(thread.id, context)  # ownership: someone else's thread is not found
            return
        check_text(thread.title, "title")
        await in_thread(conversations.rename_conversation, self.engine, user_id=context.user_id,
                        conversation_id=thread_uuid(thread.id), title=thread.title)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: ChatKitContext,
    ) -> Page[ThreadItem]:
        return await in_thread(read_items, self.engine, user_id=context.user_id, thread_id=thread_id, after=after,
                               limit=page_limit(limit, 20), order=order, turn_timeout_seconds=self.turn_timeout_seconds)

    async def load_threads(self, limit: int, after: str | None, order: str, context: ChatKitContext) -> Page[ThreadMetadata]:
        return await in_thread(read_threads, self.engine, user_id=context.user_id, limit=page_limit(limit, 20),
                               after=after, order=order)

    async def load_item(self, thread_id: str, item_id: str, context: ChatKitContext) -> ThreadItem:
        return await in_thread(read_item, self.engine, user_id=context.user_id, thread_id=thread_id, item_id=item_id)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: ChatKitContext) -> None:
        """Stored already, once, by the turn pipeline (see the module doc)."""

    async def save_item(self, thread_id: str, item: ThreadItem, context: ChatKitContext) -> None:
        """Only client tool outputs and structured input replace items, and
        this server refuses both before they reach the SDK."""
        raise InvalidInput("Items cannot be replaced here.")

    async def delete_thread_item(self, thread_id: str, item_id: str, context: ChatKitContext) -> None:
        """Only a retry deletes items: those after the last user message,
        which is all the server admits a retry for. The pipeline replaces
        that answer in place (same id, same seq), so nothing is deleted."""

    async def delete_thread(self, thread_id: str, context: ChatKitContext) -> None:
        await in_thread(conversations.delete_conversation, self.engine, user_id=context.user_id,
                        conversation_id=thread_uuid(thread_id))

    async def save_attachment(self, attachment: Attachment, context: ChatKitContext) -> None:
        raise InvalidInput("Attachments are not supported.")

    async def load_attachment(self, attachment_id: str, context: ChatKitContext) -> Attachment:
        raise InvalidInput("Attachments are not supported.")

    async def delete_attachment(self, attachment_id: str, context: ChatKitContext) -> None:
        raise InvalidInput("Attachments are not supported.")

