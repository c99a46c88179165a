"""Every setting the app reads from the environment, in one typed object.

Derived values (the normalised database URL, the JWT secret) are properties
here so no other module assembles them by hand.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


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
    # A provider's streamed reply is read at most this often: the tokens that
    # arrived in between travel on as one piece (chatapp/agent/provider_http.py).
    stream_read_interval_ms: int = 100
    # ... and all of `make api`'s workers together read their open streams about this
    # often (each worker its share): with more open than twice the interval allows, each
    # is read less often, up to once a second (0: never stretch it; see ReadPace in
    # chatapp/agent/provider_http.py).
    stream_reads_per_second: int = Field(default=500, ge=0)
    # `make api`'s worker processes on this machine (passed on to each worker by chatapp.serve).
    # `reflex run` sets no WORKERS: set it to Reflex's worker count there, so the budget is split.
    workers: int = 1
    db_pool_size: int = 10
    # psycopg will not wait less than 2 s for a connection; /chat then answers 503 within 2.5 s.
    db_connect_timeout_seconds: int = 2
    data_dir: Path = PROJECT_ROOT / "data"
    # Shared by every worker: in-flight turn events, stop signals, rate counters.
    # Unset (zero-config, one worker): an in-process bus serves the same contract.
    redis_url: str | None = None
    # On SIGTERM a worker finishes the turns it runs for up to this long.
    shutdown_grace_seconds: float = 30.0

    # --- Hardening (see README, "Security") ---
    # Request bodies under /api and /mcp larger than this get 413 before they are read.
    max_body_bytes: int = 64 * 1024
    # The conversation import's own cap (a whole exported conversation), above the general one.
    import_max_bytes: int = 10 * 1024 * 1024
    # Origins allowed to call the backend from a browser (comma-separated).
    # Unset: the web UI's own origin (localhost / 127.0.0.1 on FRONTEND_PORT and BACKEND_PORT).
    cors_origins: str | None = None
    frontend_port: int = 3000
    # Rate limits, in the `limits` notation ("10/minute", "5 per second; 100 per hour").
    # Counted in Redis when REDIS_URL is set (shared by every worker), in memory otherwise.
    rate_limit_enabled: bool = True
    rate_limit_login_per_ip: str = "30/minute; 300/hour"
    rate_limit_login_per_email: str = "10/minute; 50/hour"
    rate_limit_register_per_ip: str = "10/minute; 50/hour"
    rate_limit_register_per_email: str = "5/minute"
    rate_limit_chat_per_user: str = "30/minute; 500/hour"
    # Proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs).
    trusted_proxies: str = ""
    # Password hashes running at once (argon2id, 64 MiB each), on their own threads.
    password_hash_concurrency: int = max(1, (os.cpu_count() or 2) // 2)
    # The backend's public base URL (scheme://host[:port]), for absolute URLs in
    # the MCP protected-resource metadata. Unset: http://127.0.0.1:$BACKEND_PORT.
    public_url: str | None = None
    # Host / Origin values /mcp accepts (DNS-rebinding protection), comma-separated.
    # Unset: the loopback names (127.0.0.1, localhost, [::1]) on any port. "host:*" matches any port.
    mcp_allowed_hosts: str | None = None
    mcp_allowed_origins: str | None = None

    # --- Operations (see README, "Operations") ---
    # GET /metrics (Prometheus text format); answered only to clients in these
    # networks (the address as TRUSTED_PROXIES resolves it), 404 to anyone else.
    metrics_enabled: bool = True
    metrics_allowed_networks: str = "127.0.0.0/8,::1/128"
    # "json": one JSON object a line (production); "text": plain lines for a terminal.
    log_format: Literal["json", "text"] = "json"
    log_level: str = "WARNING"
    # One line per HTTP request (logger chatapp.access, at INFO whatever LOG_LEVEL says).
    access_log: bool = True

    @field_validator("workers", mode="before")
    @classmethod
    def _worker_count(cls, value: object) -> object:
        """`make api WORKERS=` (the Makefile's default) means one; anything
        else must be a whole number of at least one, said in the operator's
        terms rather than pydantic's."""
        if isinstance(value, str):
            if not value.strip():
                return 1
            try:
                value = int(value)
            except ValueError:
                raise ValueError(f"WORKERS must be a whole number, not {value!r}.") from None
        if isinstance(value, int) and value < 1:
            raise ValueError(f"WORKERS must be at least 1, not {value}.")
        return value

    @property
    def stream_reads_per_worker(self) -> float:
        """One worker's share of the read budget. The budget is the machine's,
        not each worker's: what a read costs is CPU, and the workers share the
        cores, so a budget per worker made every added worker read more often
        and cost more CPU per token (README, Capacity)."""
        return self.stream_reads_per_second / self.workers

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
    def mcp_endpoint(self) -> str:
        return self.mcp_url or f"http://127.0.0.1:{self.backend_port}/mcp"

    @property
    def allowed_cors_origins(self) -> list[str]:
        if self.cors_origins is not None:
            return split_list(self.cors_origins)
        return [f"http://{host}:{port}" for port in (self.frontend_port, self.backend_port) for host in LOOPBACK_NAMES]

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.backend_port}").rstrip("/")

    @property
    def mcp_hosts(self) -> list[str]:
        if self.mcp_allowed_hosts is not None:
            return split_list(self.mcp_allowed_hosts)
        return [f"{host}:*" for host in LOOPBACK_NAMES]

    @property
    def mcp_origins(self) -> list[str]:
        if self.mcp_allowed_origins is not None:
            return split_list(self.mcp_allowed_origins)
        return [f"http://{host}:*" for host in LOOPBACK_NAMES]

    @property
    def metrics_networks(self) -> list[str]:
        return split_list(self.metrics_allowed_networks)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return split_list(self.trusted_proxies)

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


def setting_errors(error: ValidationError) -> str:
    """pydantic's report as the operator wrote it: the variable's name, the
    value and what is wrong, one line each."""
    return "\n".join(f"{'_'.join(map(str, item['loc'])).upper()}={item['input']!r}: "
                     f"{item['msg'].removeprefix('Value error, ')}" for item in error.errors())
