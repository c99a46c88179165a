"""Everything a person has stored, as one zip (GDPR portability).

    account.json                  {"format": ACCOUNT_FORMAT, "account": {user_id, email, created_at}}
    conversations/<id>.json       {"format": CONVERSATION_FORMAT, "conversation": {...}, "messages": [...]}
    tasks.json                    {"format": TASKS_FORMAT, "tasks": [...]}

Conversations and messages have exactly the REST API's shapes (the
conversation of `GET …/conversations/{id}`, each message with its tool
calls), versioned by `format`, so a reader of the API reads the export.

Streamed: the zip is written as it is read, a page of rows at a time, and
each piece is handed on as soon as it is compressed, so a large account
never sits whole in memory. Each page is its own short transaction: a long
download holds no transaction open (the price: a conversation changed during
the download is exported as it was when its page was read).
"""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import IO, Any

from sqlalchemy import Engine, select

from chatapp.db import Conversation, Message, Task, User
from chatapp.db.types import iso_z, utcnow
from chatapp.services.conversations import CONVERSATION_COLUMNS, StoredConversation, stored_conversation
from chatapp.services.database import in_thread, transaction
from chatapp.services.errors import InvalidAuth
from chatapp.services.messages import MESSAGE_COLUMNS, StoredMessage, rows_to_messages, with_tool_calls

ACCOUNT_FORMAT = "chatapp.account/1"
CONVERSATION_FORMAT = "chatapp.conversation/1"
TASKS_FORMAT = "chatapp.tasks/1"
CONVERSATIONS_PER_PAGE = 100
MESSAGES_PER_PAGE = 200
TASKS_PER_PAGE = 500


class _Pipe:
    """A write-only file for `zipfile`: it keeps what was written until it
    is taken. zipfile sees no `tell`/`seek`, so it writes a streamable zip
    (sizes in data descriptors after each entry)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


# ---- reads, one short transaction each ------------------------------------------

def read_account(engine: Engine, user_id: uuid.UUID) -> dict[str, Any]:
    with transaction(engine) as connection:
        row = connection.execute(select(User.email, User.created_at).where(User.id == user_id)).first()
    if row is None:
        raise InvalidAuth("Unknown user.")
    return {"user_id": str(user_id), "email": row.email, "created_at": iso_z(row.created_at)}


def conversation_document(conversation: StoredConversation) -> dict[str, Any]:
    """The export file's own shape for a conversation (today the REST one)."""
    return {
        "id": str(conversation.id), "title": conversation.title, "created_at": iso_z(conversation.created_at),
        "updated_at": iso_z(conversation.updated_at), "message_count": conversation.message_count,
    }


def _conversation_page(engine: Engine, user_id: uuid.UUID, after: uuid.UUID | None) -> list[StoredConversation]:
    query = (
        select(*CONVERSATION_COLUMNS)
        .where(Conversation.user_id == user_id).order_by(Conversation.id).limit(CONVERSATIONS_PER_PAGE)
    )
    if after is not None:
        query = query.where(Conversation.id > after)
    with transaction(engine) as connection:
        return [stored_conversation(row) for row in connection.execute(query).all()]


def _message_page(engine: Engine, conversation_id: uuid.UUID, after_seq: int) -> list[StoredMessage]:
    page = (
        select(*MESSAGE_COLUMNS)
        .where(Message.conversation_id == conversation_id, Message.seq > after_seq)
        .order_by(Message.seq).limit(MESSAGES_PER_PAGE).subquery()
    )
    query = with_tool_calls(page)
    with transaction(engine) as connection:
        return rows_to_messages(connection.execute(query).all())


def _task_page(engine: Engine, user_id: uuid.UUID, after_task_id: int) -> list[dict[str, Any]]:
    with transaction(engine) as connection:
        rows = connection.execute(
            select(Task.task_id, Task.title, Task.description, Task.completed, Task.created_at, Task.updated_at)
            .where(Task.user_id == user_id, Task.task_id > after_task_id).order_by(Task.task_id).limit(TASKS_PER_PAGE)
        ).all()
    return [
        {"task_id": row.task_id, "title": row.title, "description": row.description, "completed": row.completed,
         "created_at": iso_z(row.created_at), "updated_at": iso_z(row.updated_at)}
        for row in rows
    ]


# ---- the zip ---------------------------------------------------------------------

class _ZipWriter:
    """One entry open at a time; every method runs in a worker thread (reads
    and compression stay off the event loop) and returns the bytes ready to
    send."""

    def __init__(self) -> None:
        self.pipe = _Pipe()
        self.zip = zipfile.ZipFile(self.pipe, "w", compression=zipfile.ZIP_DEFLATED)  # type: ignore[arg-type]
        self.entry: IO[bytes] | None = None

    def begin(self, name: str, data: bytes = b"") -> bytes:
        info = zipfile.ZipInfo(name, date_time=utcnow().timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        self.entry = self.zip.open(info, "w", force_zip64=True)
        return self.add(data)

    def add(self, data: bytes) -> bytes:
        assert self.entry is not None
        if data:
            self.entry.write(data)
        return self.pipe.take()

    def end(self, data: bytes = b"") -> bytes:
        self.add(data)
        assert self.entry is not None
        self.entry.close()
        self.entry = None
        return self.pipe.take()

    def close(self) -> bytes:
        self.zip.close()
        return self.pipe.take()


async def _in_thread(function: Callable[..., bytes], *args: Any) -> bytes:
    return await in_thread(function, *args)


async def _conversation_entry(engine: Engine, writer: _ZipWriter, row: StoredConversation) -> AsyncIterator[bytes]:
    head = _json({"format": CONVERSATION_FORMAT, "conversation": conversation_document(row)})[:-1] + b',"messages":['
    yield await _in_thread(writer.begin, f"conversations/{row.id}.json", head)
    after_seq, first = 0, True

    def write_page() -> tuple[bytes, bool]:
        nonlocal after_seq, first
        messages = _message_page(engine, row.id, after_seq)
        if not messages:
            return b"", False
        parts = []
        for message in messages:
            parts.append((b"" if first else b",") + _json(message.view()))
            first = False
        after_seq = messages[-1].seq
        return writer.add(b"".join(parts)), len(messages) == MESSAGES_PER_PAGE

    more = True
    while more:
        chunk, more = await in_thread(write_page)
        if chunk:
            yield chunk
    yield await _in_thread(writer.end, b"]}")


async def _tasks_entry(engine: Engine, writer: _ZipWriter, user_id: uuid.UUID) -> AsyncIterator[bytes]:
    yield await _in_thread(writer.begin, "tasks.json", b'{"format":"' + TASKS_FORMAT.encode() + b'","tasks":[')
    after, first = 0, True

    def write_page() -> tuple[bytes, bool]:
        nonlocal after, first
        tasks = _task_page(engine, user_id, after)
        if not tasks:
            return b"", False
        parts = []
        for task in tasks:
            parts.append((b"" if first else b",") + _json(task))
            first = False
        after = tasks[-1]["task_id"]
        return writer.add(b"".join(parts)), len(tasks) == TASKS_PER_PAGE

    more = True
    while more:
        chunk, more = await in_thread(write_page)
        if chunk:
            yield chunk
    yield await _in_thread(writer.end, b"]}")


async def export_zip(engine: Engine, user_id: uuid.UUID, account: dict[str, Any]) -> AsyncIterator[bytes]:
    """The zip's bytes, piece by piece (empty pieces skipped). `account` is
    `read_account`'s, read before the response starts, so an unknown user or
    a database outage is an error answer rather than a broken download."""
    async for chunk in _zip_pieces(engine, user_id, account):
        if chunk:
            yield chunk


async def _zip_pieces(engine: Engine, user_id: uuid.UUID, account: dict[str, Any]) -> AsyncIterator[bytes]:
    writer = _ZipWriter()
    yield await _in_thread(writer.begin, "account.json", _json({"format": ACCOUNT_FORMAT, "account": account}))
    yield await _in_thread(writer.end)
    after: uuid.UUID | None = None
    while True:
        rows = await in_thread(_conversation_page, engine, user_id, after)
        for row in rows:
            async for chunk in _conversation_entry(engine, writer, row):
                yield chunk
        if len(rows) < CONVERSATIONS_PER_PAGE:
            break
        after = rows[-1].id
    async for chunk in _tasks_entry(engine, writer, user_id):
        yield chunk
    yield await _in_thread(writer.close)


def export_filename() -> str:
    return f"chatapp-export-{utcnow():%Y%m%d}.zip"
