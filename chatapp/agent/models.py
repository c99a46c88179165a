"""Which model a turn runs on: OpenAI with a key, any OpenAI-compatible
server with a base URL, otherwise the deterministic offline model."""

from __future__ import annotations

from agents import OpenAIResponsesModel, set_tracing_disabled
from agents.models.interface import Model
from openai import AsyncOpenAI

from chatapp.agent.chat_completions import ChatCompletionsModel
from chatapp.agent.loop_local import loop_local
from chatapp.config import Settings


def openai_client(base_url: str | None, api_key: str | None) -> AsyncOpenAI:
    """One client (and connection pool) per endpoint, key and event loop.
    The SDK's own retries are off: a failed provider call fails the turn
    fast, and the person can retry."""
    return loop_local(
        ("openai", base_url, api_key),
        lambda: AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed", max_retries=0),
    )


def select_model(settings: Settings) -> Model:
    if settings.openai_base_url:
        set_tracing_disabled(True)
        client = openai_client(settings.openai_base_url, settings.openai_api_key)
        return ChatCompletionsModel(model=settings.chat_model, openai_client=client)
    if settings.openai_api_key:
        return OpenAIResponsesModel(model=settings.chat_model, openai_client=openai_client(None, settings.openai_api_key))
    # No key: nothing may reach the network, traces included.
    set_tracing_disabled(True)
    from chatapp.agent.offline import OfflineModel

    return OfflineModel(stream_delay_ms=settings.offline_stream_delay_ms)
