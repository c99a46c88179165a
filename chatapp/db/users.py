"""The users table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Column, Field, SQLModel

from chatapp.db.types import UTCDateTime, utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Stored lower-cased by the auth service, so the unique constraint is
    # case-insensitive on every database.
    email: str = Field(max_length=320, unique=True, nullable=False)
    password_hash: str = Field(max_length=255, nullable=False)
    # Last per-user task number handed out; bumped with a row lock so task ids
    # stay small, per user and never reused.
    last_task_id: int = Field(default=0, nullable=False)
    # Every token names the version it was issued under; bumping it (sign out
    # everywhere, a new password) makes every earlier token invalid.
    token_version: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
