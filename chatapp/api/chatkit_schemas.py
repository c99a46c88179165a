"""The ChatKit requests chatapp serves, as the OpenAPI document states
them: the SDK's own request shapes, narrowed to what this server accepts
(one text part per message, no attachments, a title that is not blank), so
a request the document allows is never refused as malformed, and one it
does not allow always is. The SDK parses the same body again to run it."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from annotated_types import Ge
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from chatapp.api.schemas import StrictBody, Text
from chatapp.services.conversations import MAX_TITLE_LENGTH
from chatapp.services.text import MAX_MESSAGE_CHARS, NOT_BLANK_PATTERN

Metadata = Annotated[dict[str, Any], Field(description="Passed through by the SDK; unused here.")]


def whole_number(value: Any) -> Any:
    """JSON Schema's integer, as the SDK itself reads it: 5 or 5.0, never
    `true` or "5" (which pydantic's lax int would take)."""
    if isinstance(value, (bool, str)):
        raise ValueError("must be an integer")
    return value


PageSize = Annotated[int, BeforeValidator(whole_number), Ge(0), WithJsonSchema({"type": "integer", "minimum": 0})]
Limit = Annotated[PageSize | None, Field(description="Page size; 0 or none is 20, more than 100 is 100.")]
Order = Literal["asc", "desc"]


class InputText(StrictBody):
    type: Literal["input_text"]
    text: Annotated[Text, Field(
        max_length=MAX_MESSAGE_CHARS, json_schema_extra={"pattern": NOT_BLANK_PATTERN},
        description="The message: up to 5000 characters (code points), not only whitespace.",
    )]


class ToolChoice(BaseModel):
    id: str


class InferenceOptions(BaseModel):
    """What the composer lets a person pick; the server chooses model and tools."""

    model_config = ConfigDict(extra="ignore")
    tool_choice: ToolChoice | None = None
    model: str | None = None


class MessageInput(StrictBody):
    content: Annotated[list[InputText], Field(min_length=1, max_length=1, description="One text part.")]
    attachments: Annotated[list[str], Field(max_length=0, description="Attachments are not supported: always empty.")]
    quoted_text: str | None = None
    inference_options: InferenceOptions


class ThreadRef(StrictBody):
    thread_id: str


class CreateParams(StrictBody):
    input: MessageInput


class AddMessageParams(StrictBody):
    thread_id: str
    input: MessageInput


class RetryParams(StrictBody):
    thread_id: str
    item_id: str = Field(description="The thread's last user message.")


class ListThreadsParams(StrictBody):
    limit: Limit = None
    order: Order = "desc"
    after: str | None = None


class ListItemsParams(StrictBody):
    thread_id: str
    limit: Limit = None
    order: Order = "desc"
    after: str | None = None


class RenameParams(StrictBody):
    thread_id: str
    title: Annotated[Text, Field(max_length=MAX_TITLE_LENGTH, json_schema_extra={"pattern": NOT_BLANK_PATTERN})]


class ThreadsCreate(StrictBody):
    type: Literal["threads.create"]
    params: CreateParams
    metadata: Metadata = {}


class ThreadsAddUserMessage(StrictBody):
    type: Literal["threads.add_user_message"]
    params: AddMessageParams
    metadata: Metadata = {}


class ThreadsRetryAfterItem(StrictBody):
    type: Literal["threads.retry_after_item"]
    params: RetryParams
    metadata: Metadata = {}


class ThreadsGetById(StrictBody):
    type: Literal["threads.get_by_id"]
    params: ThreadRef
    metadata: Metadata = {}


class ThreadsList(StrictBody):
    type: Literal["threads.list"]
    params: ListThreadsParams
    metadata: Metadata = {}


class ItemsList(StrictBody):
    type: Literal["items.list"]
    params: ListItemsParams
    metadata: Metadata = {}


class ThreadsUpdate(StrictBody):
    type: Literal["threads.update"]
    params: RenameParams
    metadata: Metadata = {}


class ThreadsDelete(StrictBody):
    type: Literal["threads.delete"]
    params: ThreadRef
    metadata: Metadata = {}


ChatKitRequest = Annotated[
    Union[ThreadsCreate, ThreadsAddUserMessage, ThreadsRetryAfterItem, ThreadsGetById, ThreadsList, ItemsList,
          ThreadsUpdate, ThreadsDelete],
    Field(discriminator="type"),
]
