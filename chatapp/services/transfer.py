"""Taking a conversation out (JSON or a Markdown transcript) and bringing
one in (the JSON export, as a new conversation of the caller's).

The JSON format is versioned (`format_version`), so a later version can
still read files written today. An import is checked in full before
anything is written, and written in one transaction: a file that is
malformed anywhere stores nothing.

Export and import share one format definition, so they stay in one file
(a little over two screens): a change to the format is made once, here.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from chatapp.db import Conversation, Message, ToolCall
from chatapp.db.types import as_utc, iso_z, utcnow
from chatapp.services.conversations import DEFAULT_TITLE, MAX_TITLE_LENGTH, StoredConversation, owned_conversation
from chatapp.services.database import transaction
from chatapp.services.errors import InvalidAuth, InvalidInput
from chatapp.services.messages import MESSAGE_COLUMNS, StoredMessage, StoredToolCall, rows_to_messages, with_tool_calls
from chatapp.services.text import MAX_INT32, NOT_BLANK_PATTERN, unstorable_reason
from chatapp.services.tokens import message_tokens

FORMAT_VERSION = 1
DOCUMENT_TYPE = "chatapp.conversation"
# Deeper JSON in a tool call's parameters or result is refused: nothing the
# tools produce comes near it, and it bounds the checks' recursion.
MAX_JSON_DEPTH = 64
MAX_IMPORT_MESSAGES = 100_000


# ---- the format ----------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


IMPORTED_CONTENT_CHARS = 100_000  # one imported message, in code points


class ExportedToolCall(_Strict):
    id: str | None = Field(None, max_length=64, description="Its id where it was exported; a new one is made on import.")
    call_id: str | None = Field(None, max_length=128)
    tool_name: str = Field(min_length=1, max_length=64)
    parameters: dict[str, Any]
    result: Any = None
    executed_at: datetime | None = None
    imported: bool = False


class ExportedMessage(_Strict):
    id: str | None = Field(None, max_length=64, description="Its id where it was exported; a new one is made on import.")
    seq: int = Field(ge=1, le=MAX_INT32, description="1, 2, 3, ... in order: kept on import.")
    role: Literal["user", "assistant"]
    # Bounded well below what PostgreSQL's search index takes for one row
    # (1 MB of tsvector): a longer text would fail the insert, not the input.
    content: str = Field(max_length=IMPORTED_CONTENT_CHARS)
    status: Literal["in_progress", "complete", "stopped", "failed"] = "complete"
    error_code: str | None = Field(None, max_length=32)
    reply_to: str | None = Field(None, max_length=64, description="The `id` of the user message (in this file) it answers.")
    created_at: datetime | None = None
    tool_calls: list[ExportedToolCall] = Field(default_factory=list)


class ExportedConversation(_Strict):
    id: str | None = Field(None, max_length=64)
    title: str = Field(min_length=1, max_length=MAX_TITLE_LENGTH, json_schema_extra={"pattern": NOT_BLANK_PATTERN})
    created_at: datetime | None = None
    updated_at: datetime | None = None
    token_total: int | None = Field(None, ge=0, description="Recounted on import.")


class ConversationExport(_Strict):
    """A conversation as `GET …/export?format=json` writes it and
    `POST …/conversations/import` reads it."""

    format_version: Literal[1] = Field(description="The version of this format: 1.")
    type: Literal["chatapp.conversation"] = DOCUMENT_TYPE
    exported_at: datetime | None = None
    conversation: ExportedConversation
    messages: Annotated[list[ExportedMessage], Field(min_length=1, max_length=MAX_IMPORT_MESSAGES)]


# ---- export --------------------------------------------------------------------

def read_all_messages(connection: Connection, conversation_id: uuid.UUID) -> list[StoredMessage]:
    """Every message of a conversation with its tool calls, in seq order."""
    page = select(*MESSAGE_COLUMNS).where(Message.conversation_id == conversation_id).subquery()
    return rows_to_messages(connection.execute(with_tool_calls(page)).all())


def tool_call_document(call: StoredToolCall) -> dict[str, Any]:
    return {
        "id": str(call.id), "call_id": call.call_id, "tool_name": call.tool_name, "parameters": call.parameters,
        "result": call.result, "executed_at": iso_z(call.executed_at), "imported": call.imported,
    }


def message_document(message: StoredMessage) -> dict[str, Any]:
    return {
        "id": str(message.id), "seq": message.seq, "role": message.role, "content": message.content,
        "status": message.status, "error_code": message.error_code,
        "reply_to": str(message.reply_to) if message.reply_to else None, "created_at": iso_z(message.created_at),
        "tool_calls": [tool_call_document(call) for call in message.tool_calls],
    }


def export_conversation(engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> dict[str, Any]:
    """The whole conversation as a JSON-ready document (every message, status
    and tool call), read in one transaction so it is one consistent moment."""
    with transaction(engine) as connection:
        row = owned_conversation(connection, user_id=user_id, conversation_id=conversation_id)
        token_total = connection.execute(
            select(Conversation.token_total).where(Conversation.id == conversation_id)
        ).scalar_one()
        messages = read_all_messages(connection, conversation_id)
    return {
        "format_version": FORMAT_VERSION,
        "type": DOCUMENT_TYPE,
        "exported_at": iso_z(utcnow()),
        "conversation": {
            "id": str(row.id), "title": row.title, "created_at": iso_z(row.created_at),
            "updated_at": iso_z(row.updated_at), "token_total": token_total,
        },
        "messages": [message_document(message) for message in messages],
    }


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in the text, so the
    text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _json_block(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    fence = _fence(text)
    return f"{fence}json\n{text}\n{fence}"


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


STATUS_NOTES = {"stopped": "stopped", "in_progress": "still being written when exported"}


def markdown_transcript(document: dict[str, Any]) -> str:
    """A readable transcript: one heading per message, its text as written
    (it is Markdown already), each tool call a collapsible `<details>`."""
    conversation = document["conversation"]
    lines = [f"# {conversation['title']}", "",
             f"*Exported from chatapp on {document['exported_at']} · {len(document['messages'])} messages*", ""]
    for message in document["messages"]:
        who = "You" if message["role"] == "user" else "Assistant"
        note = STATUS_NOTES.get(message["status"])
        if message["status"] == "failed":
            note = f"failed: {message['error_code'] or 'error'}"
        lines += [f"## {who} · {message['created_at']}" + (f" *({note})*" if note else ""), ""]
        if message["content"]:
            lines += [message["content"], ""]
        for call in message["tool_calls"]:
            summary = f"Tool call: <code>{_html_text(call['tool_name'])}</code>" + (" (imported)" if call["imported"] else "")
            lines += [
                "<details>", f"<summary>{summary}</summary>", "",
                "Parameters:", "", _json_block(call["parameters"]), "",
                "Result:", "", _json_block(call["result"]), "",
                f"Executed at {call['executed_at']}.", "", "</details>", "",
            ]
    return "\n".join(lines).rstrip("\n") + "\n"


def export_filename(title: str, extension: str) -> str:
    """An ASCII file name from the title (the header also carries the UTF-8
    one), so every browser saves something sensible."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:60].strip("-")
    return f"{slug or 'conversation'}.{extension}"


# ---- import --------------------------------------------------------------------

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_document(raw: bytes | str) -> ConversationExport:
    """An uploaded file as an export document, or InvalidInput saying why not.
    NaN and Infinity (which Python's json accepts) are refused: no database
    JSON column stores them."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidInput("The file is not valid JSON.") from None
    return validate_document(data)


def validate_document(data: Any) -> ConversationExport:
    if not isinstance(data, dict):
        raise InvalidInput("The file must hold a JSON object: a chatapp conversation export.")
    if data.get("format_version") != FORMAT_VERSION:
        raise InvalidInput(f"Unsupported export: format_version must be {FORMAT_VERSION}.")
    try:
        return ConversationExport.model_validate(data)
    except ValidationError as error:
        issue = error.errors()[0]
        where = ".".join(str(part) for part in issue.get("loc", ()))
        raise InvalidInput(f"Not a valid conversation export: {where}: {issue.get('msg', 'invalid')}.") from None


def _check_string(value: str, where: str) -> None:
    reason = unstorable_reason(value)
    if reason:
        raise InvalidInput(f"{where} {reason}.")


def _check_json(value: Any, where: str, depth: int = 0) -> None:
    """What a JSON column can hold on both databases: no NUL or lone
    surrogate in any string or key, finite numbers, bounded depth."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(f"{where} is nested too deeply.")
    if isinstance(value, str):
        _check_string(value, where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{where} holds a number JSON cannot store.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_string(key, where)
            _check_json(item, where, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, where, depth + 1)


def _utc(value: datetime | None, where: str) -> datetime:
    if value is None:
        return utcnow()
    try:
        return as_utc(value) if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    except OverflowError:
        raise InvalidInput(f"{where} is out of range.") from None


def check_import(document: ConversationExport) -> None:
    """What the format's types cannot say: seq runs 1..n (seq stays
    gap-free), answers name a user message earlier in the file, and every
    string and JSON value can be stored."""
    if not document.messages:
        raise InvalidInput("The export holds no messages.")
    _check_string(document.conversation.title, "conversation.title")
    if not document.conversation.title.strip():
        raise InvalidInput("conversation.title must not be blank.")
    users: set[str] = set()
    seen: set[str] = set()
    for index, message in enumerate(document.messages):
        where = f"messages.{index}"
        if message.seq != index + 1:
            raise InvalidInput(f"{where}.seq must be {index + 1}: messages are numbered 1, 2, 3, ... in order.")
        _check_string(message.content, f"{where}.content")
        if message.error_code is not None:
            _check_string(message.error_code, f"{where}.error_code")
        if message.id is not None:
            if message.id in seen:
                raise InvalidInput(f"{where}.id appears twice.")
            seen.add(message.id)
        if message.role == "user":
            if message.reply_to is not None or message.tool_calls:
                raise InvalidInput(f"{where}: a user message has no reply_to and no tool calls.")
            if message.status != "complete":
                raise InvalidInput(f"{where}.status: a user message is complete.")
            if message.id is not None:
                users.add(message.id)
        elif message.reply_to is not None and message.reply_to not in users:
            raise InvalidInput(f"{where}.reply_to must be the id of a user message before it.")
        _utc(message.created_at, f"{where}.created_at")
        for position, call in enumerate(message.tool_calls):
            call_where = f"{where}.tool_calls.{position}"
            _check_string(call.tool_name, f"{call_where}.tool_name")
            if call.call_id is not None:
                _check_string(call.call_id, f"{call_where}.call_id")
            _check_json(call.parameters, f"{call_where}.parameters")
            _check_json(call.result, f"{call_where}.result")
            _utc(call.executed_at, f"{call_where}.executed_at")
    _utc(document.conversation.created_at, "conversation.created_at")


def import_conversation(engine: Engine, *, user_id: uuid.UUID, document: ConversationExport) -> StoredConversation:
    """A new conversation of the caller's from an export: new ids, the same
    seqs, token counts recounted here (the file's are not trusted), every
    tool call marked imported. An answer that was still being written when
    exported comes in failed/interrupted: nothing will ever finish it."""
    check_import(document)
    conversation_id = uuid.uuid4()
    now = utcnow()
    new_ids: dict[str, uuid.UUID] = {}
    message_rows: list[dict[str, Any]] = []
    call_rows: list[dict[str, Any]] = []
    tokens_before = 0
    for message in document.messages:
        message_id = uuid.uuid4()
        if message.id is not None:
            new_ids[message.id] = message_id
        calls = [(call.tool_name, call.parameters, call.result) for call in message.tool_calls]
        tokens = message_tokens(message.content, calls)
        status, error_code = message.status, message.error_code
        if status == "in_progress":
            status, error_code = "failed", "interrupted"
        elif status != "failed":
            error_code = None
        message_rows.append({
            "id": message_id, "conversation_id": conversation_id, "seq": message.seq, "role": message.role,
            "content": message.content, "status": status, "error_code": error_code,
            "reply_to": new_ids.get(message.reply_to) if message.reply_to else None,
            "started_at": None, "token_count": tokens, "tokens_before": tokens_before,
            "created_at": _utc(message.created_at, "created_at"),
        })
        tokens_before += tokens
        for position, call in enumerate(message.tool_calls):
            call_rows.append({
                "id": uuid.uuid4(), "message_id": message_id, "position": position,
                "call_id": call.call_id or f"imported-{uuid.uuid4().hex}", "tool_name": call.tool_name,
                "parameters": call.parameters, "result": call.result,
                "executed_at": _utc(call.executed_at, "executed_at"), "imported": True,
            })
    title = " ".join(document.conversation.title.split()) or DEFAULT_TITLE
    created_at = _utc(document.conversation.created_at, "created_at")
    try:
        with transaction(engine) as connection:
            connection.execute(insert(Conversation), {
                "id": conversation_id, "user_id": user_id, "title": title, "last_seq": len(message_rows),
                "token_total": tokens_before, "created_at": created_at,
                "updated_at": now,  # it is new here: at the top of the list
            })
            connection.execute(insert(Message), message_rows)
            if call_rows:
                connection.execute(insert(ToolCall), call_rows)
    except IntegrityError as error:
        raise InvalidAuth("Unknown user.") from error  # only a user deleted meanwhile breaks a key here
    return StoredConversation(
        id=conversation_id, title=title, created_at=created_at, updated_at=now, message_count=len(message_rows),
    )
