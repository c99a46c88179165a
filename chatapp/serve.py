"""`make api`: the production backend (REST API, MCP server, Reflex backend)
served by Granian with the settings production needs.

`reflex run --env prod --backend-only` starts Granian with only host, port
and workers: a worker that dies is not replaced and the backlog stays at
1,024. So this starts Granian itself, on the same ASGI target and with the
same environment Reflex gives its workers, plus respawn, a larger backlog
and a kill timeout longer than the graceful-shutdown grace.

Run as `python -m chatapp.serve`; it checks the configuration, migrates the
database, then replaces itself with Granian (so signals reach Granian's
master process directly).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from chatapp.config import Settings

# What `reflex run --env prod --backend-only` serves and sets for its workers.
APP_TARGET = "chatapp.chatapp:app"
REFLEX_ENV = {
    "REFLEX_ENV_MODE": "prod",
    "REFLEX_SKIP_COMPILE": "true",
    "REFLEX_BACKEND_ONLY": "true",
    "REFLEX_MOUNT_FRONTEND_COMPILED_APP": "false",
    "REFLEX_TELEMETRY_ENABLED": "false",
}
MIN_JWT_SECRET_BYTES = 32
BACKLOG = 4096
# Time left to a worker, after the grace, for lifespan cleanup before it is killed.
KILL_MARGIN_SECONDS = 10


class ConfigError(Exception):
    """A setting that makes serving unsafe or impossible; the message says which."""


@dataclass(frozen=True)
class ServePlan:
    host: str
    port: int
    workers: int
    redis_url: str | None
    kill_timeout_seconds: int

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "granian",
            "--interface", "asgi", "--factory", APP_TARGET,
            # asyncio's loop: chatapp/shutdown.py chains its SIGTERM handler.
            "--loop", "asyncio",
            "--host", self.host, "--port", str(self.port),
            "--workers", str(self.workers),
            "--respawn-failed-workers",
            "--backlog", str(BACKLOG),
            "--workers-kill-timeout", str(self.kill_timeout_seconds),
        ]

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        env = {**base, **REFLEX_ENV, "REFLEX_BACKEND_PORT": str(self.port), "REFLEX_BACKEND_HOST": self.host}
        env.pop("FRONTEND_PORT", None)  # Reflex refuses a frontend port for a backend-only run
        if self.redis_url:
            # Reflex reads only the prefixed variable; it switches on its Redis state manager.
            env["REFLEX_REDIS_URL"] = self.redis_url
        return env


def check_jwt_secret(secret: str | None) -> None:
    """Every worker must sign and verify with one secret that is set, not
    generated per machine, and long enough for HS256."""
    if not secret:
        raise ConfigError(
            "JWT_SECRET is not set. `make api` serves production traffic and every worker must share one "
            f"secret: set JWT_SECRET to at least {MIN_JWT_SECRET_BYTES} random bytes, e.g. "
            "JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"JWT_SECRET is {len(secret.encode())} bytes; it must be at least {MIN_JWT_SECRET_BYTES} bytes."
        )


def parse_workers(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return 1
    try:
        workers = int(raw)
    except ValueError:
        raise ConfigError(f"WORKERS must be a whole number, not {raw!r}.") from None
    if workers < 1:
        raise ConfigError(f"WORKERS must be at least 1, not {workers}.")
    return workers


def plan(settings: Settings, env: Mapping[str, str]) -> ServePlan:
    """What to serve, or a `ConfigError` saying why not."""
    check_jwt_secret(settings.jwt_secret)
    workers = parse_workers(env.get("WORKERS"))
    if workers > 1 and not settings.redis_url:
        raise ConfigError(
            f"WORKERS={workers} needs REDIS_URL: the web UI's state and live events must be shared by every "
            "worker. Set REDIS_URL=redis://… or serve one worker."
        )
    kill_timeout = min(int(settings.shutdown_grace_seconds) + KILL_MARGIN_SECONDS, 1800)
    return ServePlan(
        host=env.get("BACKEND_HOST") or "127.0.0.1",
        port=settings.backend_port,
        workers=workers,
        redis_url=settings.redis_url,
        kill_timeout_seconds=kill_timeout,
    )


def main() -> None:
    settings = Settings()
    try:
        serve_plan = plan(settings, os.environ)
    except ConfigError as error:
        print(f"make api: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    from chatapp.db import upgrade_database

    upgrade_database(settings.sqlalchemy_url)
    command = serve_plan.command()
    os.execve(command[0], command, serve_plan.environment(os.environ))


if __name__ == "__main__":
    main()
