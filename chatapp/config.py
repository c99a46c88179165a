"""Every setting the app reads from the environment, in one typed object.

Derived values (the normalised database URL, the JWT secret) are properties
here so no other module assembles them by hand.
"""

from __future__ import annotations

import secrets
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    database_url: str = "sqlite:///data/chatapp.db"
    jwt_secret: str | None = None
    jwt_ttl_minutes: int = 60 * 24
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    chat_model: str = "gpt-4.1-mini"
    backend_port: int = 8000
    mcp_url: str | None = None
    turn_timeout_seconds: float = 60.0
    history_token_budget: int = 4000
    offline_stream_delay_ms: int = 0
    db_pool_size: int = 10
    # psycopg will not wait less than 2 s for a connection; /chat then answers 503 within 2.5 s.
    db_connect_timeout_seconds: int = 2
    data_dir: Path = PROJECT_ROOT / "data"
    # Shared by every worker: in-flight turn events, stop signals, rate counters.
    # Unset (zero-config, one worker): an in-process bus serves the same contract.
    redis_url: str | None = None
    # On SIGTERM a worker finishes the turns it runs for up to this long.
    shutdown_grace_seconds: float = 30.0

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the driver spelled out: psycopg 3 for PostgreSQL, and
        relative SQLite paths anchored at the project root so `reflex run`
        and `make api` open the same file from any working directory."""
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            relative = url[len("sqlite:///"):]
            if relative and relative != ":memory:":
                return f"sqlite:///{PROJECT_ROOT / relative}"
        return url

    @property
    def is_postgres(self) -> bool:
        return self.sqlalchemy_url.startswith("postgresql")

    @property
    def mcp_endpoint(self) -> str:
        return self.mcp_url or f"http://127.0.0.1:{self.backend_port}/mcp"

    @cached_property
    def jwt_signing_key(self) -> str:
        """JWT_SECRET, or in development a random secret generated once and
        kept in a git-ignored file, so tokens survive restarts but no secret
        ever lives in the code."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            candidate = secrets.token_urlsafe(48)
            try:
                with path.open("x") as handle:
                    handle.write(candidate)
                path.chmod(0o600)
            except FileExistsError:
                pass
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
