"""Reading everything a chat page shows, in one call to the service layer.

The page keeps no conversation state of its own: on load, on navigation and
after each turn it asks for a fresh `PageData` and replaces what it shows.
One sync function, so a handler crosses into a worker thread once.
"""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import Engine

from chatapp.services import conversations, tasks, tool_calls
from chatapp.services.auth import email_of
from chatapp.services.errors import NotFound
from chatapp.services.parts import AppParts
from chatapp.ui.views import (
    ConversationView,
    MessageView,
    TaskEventView,
    TaskView,
    conversation_view,
    message_view,
    task_event_view,
    task_view,
)

# Messages per page of the thread; older pages load on scroll-up.
THREAD_PAGE = 50
SIDEBAR_LIMIT = 100
# The tasks panel: how many recent changes, and how much of one task's history.
RECENT_CHANGES = 20
TASK_HISTORY_LIMIT = 100


@dataclasses.dataclass
class Thread:
    """One page of a conversation, newest messages last."""

    conversation_id: str
    title: str
    messages: list[MessageView]
    has_older: bool


@dataclasses.dataclass
class PageData:
    email: str
    conversations: list[ConversationView]
    tasks: list[TaskView]
    thread: Thread | None  # None: a new chat
    task_events: list[TaskEventView] = dataclasses.field(default_factory=list)  # recent changes, newest first
    not_found: bool = False


def parse_conversation_id(value: str | None) -> uuid.UUID | None:
    """A malformed id in the URL is just a conversation that is not there."""
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def read_sidebar(engine: Engine, *, user_id: uuid.UUID) -> list[ConversationView]:
    rows, _more = conversations.list_conversations(engine, user_id=user_id, limit=SIDEBAR_LIMIT)
    return [conversation_view(row) for row in rows]


def read_tasks(engine: Engine, *, user_id: uuid.UUID) -> list[TaskView]:
    return [task_view(task) for task in tasks.list_tasks(engine, user_id=user_id)]


def read_task_events(engine: Engine, *, user_id: uuid.UUID, task_id: int | None = None) -> list[TaskEventView]:
    """A task's history (up to TASK_HISTORY_LIMIT changes), or, without
    `task_id`, the latest changes to any task (listings left out)."""
    limit = TASK_HISTORY_LIMIT if task_id is not None else RECENT_CHANGES
    page = tool_calls.list_tool_calls(engine, user_id=user_id, task_id=task_id, any_task=task_id is None, limit=limit)
    return [task_event_view(call) for call in page.calls]


def read_thread(
    parts: AppParts, *, user_id: uuid.UUID, conversation_id: uuid.UUID, before_seq: int | None = None
) -> Thread:
    """Raises NotFound for a missing conversation or someone else's."""
    page = conversations.open_conversation(
        parts.engine, user_id=user_id, conversation_id=conversation_id, limit=THREAD_PAGE, before_seq=before_seq,
        turn_timeout_seconds=parts.settings.turn_timeout_seconds,
    )
    return Thread(
        conversation_id=str(conversation_id),
        title=page.conversation.title,
        messages=[message_view(message.view()) for message in page.messages],
        has_older=page.has_more,
    )


def read_page(parts: AppParts, *, user_id: uuid.UUID, conversation_id: str | None) -> PageData:
    """Sidebar, tasks and (for `/chat/<id>`) the latest page of the thread.
    `conversation_id` is the raw URL segment: "" or None means a new chat."""
    engine = parts.engine
    data = PageData(
        email=email_of(engine, user_id) or "",
        conversations=read_sidebar(engine, user_id=user_id),
        tasks=read_tasks(engine, user_id=user_id),
        thread=None,
        task_events=read_task_events(engine, user_id=user_id),
    )
    if not conversation_id:
        return data
    parsed = parse_conversation_id(conversation_id)
    if parsed is None:
        data.not_found = True
        return data
    try:
        data.thread = read_thread(parts, user_id=user_id, conversation_id=parsed)
    except NotFound:
        data.not_found = True
    return data


# Most pages read to bring a search hit into the thread (5,000 messages).
MAX_FOCUS_PAGES = 100


def read_back_to(parts: AppParts, *, user_id: uuid.UUID, thread: Thread, seq: int) -> Thread:
    """The thread with older pages prepended until message `seq` is in it
    (or MAX_FOCUS_PAGES were read)."""
    messages, has_older = list(thread.messages), thread.has_older
    conversation_id = uuid.UUID(thread.conversation_id)
    for _ in range(MAX_FOCUS_PAGES):
        if not messages or not has_older or messages[0].seq <= seq:
            break
        older = read_thread(parts, user_id=user_id, conversation_id=conversation_id, before_seq=messages[0].seq)
        messages, has_older = older.messages + messages, older.has_older
    return dataclasses.replace(thread, messages=messages, has_older=has_older)
