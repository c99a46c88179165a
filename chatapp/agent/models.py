"""Which model a turn runs on: OpenAI with a key, any OpenAI-compatible
server with a base URL, otherwise the deterministic offline model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agents import OpenAIResponsesModel, set_tracing_disabled
from agents.models.interface import Model
from openai import AsyncOpenAI

from chatapp.agent.chat_completions import ChatCompletionsModel
from chatapp.agent.provider_http import provider_http_client
from chatapp.config import Settings


def openai_client(settings: Settings) -> AsyncOpenAI | None:
    """The provider's client (and connection pool), or None for the offline
    model. The SDK's own retries are off: a failed provider call fails the
    turn fast, and the person can retry."""
    if not settings.openai_base_url and not settings.openai_api_key:
        return None
    return AsyncOpenAI(base_url=settings.openai_base_url, api_key=settings.openai_api_key or "not-needed", max_retries=0,
                       http_client=provider_http_client(settings.stream_read_interval_ms / 1000,
                                                         settings.stream_reads_per_worker))


def select_model(settings: Settings, client: AsyncOpenAI | None = None) -> Model:
    """`client` is the caller's to close; without one, one is made here
    (for a benchmark or a test that owns no parts)."""
    client = client or openai_client(settings)
    if settings.openai_base_url and client is not None:
        set_tracing_disabled(True)
        return ChatCompletionsModel(model=settings.chat_model, openai_client=client)
    if client is not None:
        return OpenAIResponsesModel(model=settings.chat_model, openai_client=client)
    # No key: nothing may reach the network, traces included.
    set_tracing_disabled(True)
    from chatapp.agent.offline import OfflineModel

    return OfflineModel(stream_delay_ms=settings.offline_stream_delay_ms)


@asynccontextmanager
async def open_model(settings: Settings) -> AsyncIterator[Model]:
    """The model for this worker, with its client closed on exit."""
    client = openai_client(settings)
    try:
        yield select_model(settings, client)
    finally:
        if client is not None:
            await client.close()
