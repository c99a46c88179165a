"""Tables, engines and migrations. Importing this registers every table."""

from chatapp.db.conversations import Conversation, Message, ToolCall
from chatapp.db.idempotency import IdempotencyKey
from chatapp.db.engine import engine_from, make_engine, upgrade_database
from chatapp.db.tasks import Task
from chatapp.db.users import User

__all__ = [
    "Conversation",
    "IdempotencyKey",
    "Message",
    "Task",
    "ToolCall",
    "User",
    "engine_from",
    "make_engine",
    "upgrade_database",
]
