"""Request and response bodies. Requests forbid unknown fields, so a typo in
a client is a clear 400 rather than a silently ignored value."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(StrictBody):
    email: str
    password: str


class SessionOut(BaseModel):
    user_id: uuid.UUID
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class ChatRequest(StrictBody):
    message: str
    conversation_id: uuid.UUID | None = None


class ToolCallOut(BaseModel):
    id: str
    tool_name: str
    parameters: dict[str, Any]
    result: Any
    executed_at: str


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


class ConversationList(BaseModel):
    conversations: list[ConversationOut]
    has_more: bool


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    messages: list[MessageOut]
    has_more: bool


class RenameRequest(StrictBody):
    title: str


class TaskOut(BaseModel):
    task_id: int
    title: str
    description: str | None
    completed: bool


class TaskList(BaseModel):
    status: str
    filter: str
    count: int
    tasks: list[TaskOut]


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "unavailable"]
