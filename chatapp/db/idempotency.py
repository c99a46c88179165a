"""Idempotency keys: a client-chosen key names one turn, so a retried
request answers that turn instead of starting another."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlmodel import Column, Field, SQLModel

from chatapp.db.types import UTCDateTime, utcnow


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, nullable=False)
    )
    key: str = Field(max_length=255, primary_key=True)
    # Which operation and which body the key was first used with: the same
    # key for anything else is a client bug, answered 422.
    route: str = Field(max_length=32, nullable=False)
    fingerprint: str = Field(max_length=64, nullable=False)
    conversation_id: uuid.UUID = Field(nullable=False)
    answer_id: uuid.UUID = Field(nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
