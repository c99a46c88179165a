"""Request and response bodies. Requests forbid unknown fields, so a typo in
a client is a clear 400 rather than a silently ignored value. Responses are
shaped here from the services' typed results (`Model.of(...)`): the REST
shape is the API's own, whatever the MCP tools or the UI make of the same
values."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from chatapp.services.auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from chatapp.services.text import MAX_MESSAGE_CHARS
from chatapp.db.types import iso_z
from chatapp.services.conversations import MAX_TITLE_LENGTH, StoredConversation
from chatapp.services.search import MessageHit
from chatapp.services.tasks import StoredTask, TaskFilter
from chatapp.services.tool_calls import AuditedCall, AuditPage
from chatapp.services.text import (
    EMAIL_PATTERN, NO_NUL_PATTERN, NOT_BLANK_PATTERN, PASSWORD_PATTERN, UUID_PATTERN, parse_uuid, unstorable_reason,
)


def storable(value: str) -> str:
    reason = unstorable_reason(value)
    if reason:
        raise ValueError(reason)
    return value


def canonical_uuid(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_uuid(value, "the id")
        except Exception:
            raise ValueError("must be a UUID (8-4-4-4-12 hex digits with hyphens)") from None
    return value


# Every string the API takes: no NUL, no unpaired surrogate (checked once, here).
Text = Annotated[str, AfterValidator(storable)]
# Every id the API takes: the hyphenated 8-4-4-4-12 form, either case.
UUIDSchema = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
ApiUUID = Annotated[uuid.UUID, BeforeValidator(canonical_uuid), WithJsonSchema(UUIDSchema)]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


Email = Annotated[Text, Field(max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN, "format": "email"})]


class Credentials(StrictBody):
    email: Email
    password: Annotated[Text, Field(max_length=MAX_PASSWORD_LENGTH)]


NewPassword = Annotated[Text, Field(
    min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH,
    json_schema_extra={"pattern": PASSWORD_PATTERN},
    description="8-256 characters; not only lowercase letters a-z, not only digits, not only spaces.",
)]
CurrentPassword = Annotated[Text, Field(
    max_length=MAX_PASSWORD_LENGTH, json_schema_extra={"pattern": NO_NUL_PATTERN}, description="The account's password now.",
)]


class Registration(StrictBody):
    email: Email
    password: NewPassword


class PasswordChange(StrictBody):
    current_password: CurrentPassword
    new_password: NewPassword


class AccountDeletion(StrictBody):
    password: CurrentPassword


class SessionOut(BaseModel):
    user_id: uuid.UUID
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class ChatRequest(StrictBody):
    message: Annotated[Text, Field(
        max_length=MAX_MESSAGE_CHARS, json_schema_extra={"pattern": NOT_BLANK_PATTERN},
        description="Up to 5000 characters (code points), not only whitespace.",
    )]
    conversation_id: ApiUUID | None = None


class EditRequest(StrictBody):
    content: Annotated[Text, Field(
        max_length=MAX_MESSAGE_CHARS, json_schema_extra={"pattern": NOT_BLANK_PATTERN},
        description="The message's new text: up to 5000 characters (code points), not only whitespace.",
    )]


class ToolCallOut(BaseModel):
    id: str
    tool_name: str
    parameters: dict[str, Any]
    result: Any
    executed_at: str
    imported: bool = Field(description="True for a tool call that came in with an imported conversation.")


class MessageOut(BaseModel):
    id: str
    seq: int
    role: Literal["user", "assistant"]
    content: str
    status: Literal["in_progress", "complete", "stopped", "failed"]
    error_code: str | None = None
    reply_to: str | None = None
    created_at: str
    tool_calls: list[ToolCallOut]


class ChatResponse(BaseModel):
    status: Literal["success"] = "success"
    conversation_id: str
    messages: list[MessageOut]
    has_more: bool


class ErrorResponse(BaseModel):
    status: Literal["error"] = "error"
    error_code: str
    error: str
    conversation_id: str | None = None


class ConversationOut(BaseModel):
    id: str
    title: str
    created_at: str
    updated_at: str
    message_count: int

    @classmethod
    def of(cls, conversation: StoredConversation) -> ConversationOut:
        return cls(
            id=str(conversation.id), title=conversation.title, created_at=iso_z(conversation.created_at),
            updated_at=iso_z(conversation.updated_at), message_count=conversation.message_count,
        )


class ConversationList(BaseModel):
    conversations: list[ConversationOut]
    has_more: bool


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    messages: list[MessageOut]
    has_more: bool


class RenameRequest(StrictBody):
    title: Annotated[Text, Field(
        min_length=1, max_length=MAX_TITLE_LENGTH, json_schema_extra={"pattern": NOT_BLANK_PATTERN},
        description="Up to 200 characters, not only whitespace (runs of whitespace become one space).",
    )]


class TaskOut(BaseModel):
    task_id: int
    title: str
    description: str | None
    completed: bool

    @classmethod
    def of(cls, task: StoredTask) -> TaskOut:
        return cls(task_id=task.task_id, title=task.title, description=task.description, completed=task.completed)


class TaskList(BaseModel):
    status: str
    filter: str
    count: int
    tasks: list[TaskOut]

    @classmethod
    def of(cls, status: TaskFilter, tasks: list[StoredTask]) -> TaskList:
        return cls(status="ok", filter=status, count=len(tasks), tasks=[TaskOut.of(task) for task in tasks])


class SnippetPartOut(BaseModel):
    text: str
    match: bool


class SearchHit(BaseModel):
    conversation_id: str
    conversation_title: str
    message_id: str
    role: Literal["user", "assistant"]
    seq: int
    created_at: str
    snippet: list[SnippetPartOut] = Field(description="The text around the first match, in parts; matching words have `match: true`.")

    @classmethod
    def of(cls, hit: MessageHit) -> SearchHit:
        return cls(
            conversation_id=str(hit.conversation_id), conversation_title=hit.conversation_title,
            message_id=str(hit.message_id), role=hit.role, seq=hit.seq,
            created_at=iso_z(hit.created_at),
            snippet=[SnippetPartOut(text=part.text, match=part.match) for part in hit.snippet],
        )


class SearchResults(BaseModel):
    hits: list[SearchHit]
    has_more: bool


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "unavailable"]


class AuditedToolCall(ToolCallOut):
    conversation_id: str
    message_id: str
    task_id: int | None = Field(description="The task the call acted on (created, changed, completed, deleted), if any.")

    @classmethod
    def of(cls, call: AuditedCall) -> AuditedToolCall:
        return cls(
            id=str(call.id), tool_name=call.tool_name, parameters=call.parameters, result=call.result,
            executed_at=iso_z(call.executed_at), imported=call.imported, conversation_id=str(call.conversation_id),
            message_id=str(call.message_id), task_id=call.task_id,
        )


class ToolCallPage(BaseModel):
    tool_calls: list[AuditedToolCall]
    next_before: str | None = Field(description="Pass as `before` for the next (older) page; null on the last page.")

    @classmethod
    def of(cls, page: AuditPage) -> ToolCallPage:
        return cls(tool_calls=[AuditedToolCall.of(call) for call in page.calls], next_before=page.next_before)
