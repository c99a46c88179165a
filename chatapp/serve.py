"""`make api`: the production backend (REST API, MCP server, Reflex backend)
served by Granian with the settings production needs.

`reflex run --env prod --backend-only` starts Granian with only host, port
and workers: a worker that dies is not replaced and the backlog stays at
1,024. So this starts Granian itself, on the same ASGI target and with the
same environment Reflex gives its workers, plus respawn, a larger backlog
and a kill timeout longer than the graceful-shutdown grace.

Run as `python -m chatapp.serve`; it checks the configuration, migrates the
database, prepares a fresh run directory (the workers' metrics files, see
chatapp/metrics.py, and Granian's own logging in JSON), then replaces itself
with Granian (so signals reach Granian's master process directly).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from reflex_base import constants as reflex_constants
from reflex_base.environment import environment as reflex_environment

from chatapp.config import Settings, setting_errors

# What `reflex run --env prod --backend-only` serves and sets for its workers.
# Reflex reads its internal switches under a mangled name (`__REFLEX_SKIP_COMPILE`),
# so the names come from Reflex itself. Without the skip, every worker compiled
# the frontend and ran bun install into the shared .web and reflex.lock at once:
# a worker that read a half-written package.json exited, and a respawned
# worker that exits again within 5.5 s makes Granian stop the whole server.
APP_TARGET = "chatapp.chatapp:app"
REFLEX_ENV = {
    reflex_environment.REFLEX_ENV_MODE.name: "prod",
    reflex_environment.REFLEX_SKIP_COMPILE.name: "true",
    reflex_environment.REFLEX_BACKEND_ONLY.name: "true",
    reflex_environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.name: "false",
    "REFLEX_TELEMETRY_ENABLED": "false",
}
MIN_JWT_SECRET_BYTES = 32
BACKLOG = 4096
# Time left to a worker, after the grace, for lifespan cleanup before it is killed.
KILL_MARGIN_SECONDS = 10
# One directory per server start, named for the server's pid (Granian's master
# keeps it: this process execs into it), so a dead server's is recognised.
RUN_DIR_PREFIX = "chatapp-serve-"
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class ConfigError(Exception):
    """A setting that makes serving unsafe or impossible; the message says which."""


@dataclass(frozen=True)
class ServePlan:
    host: str
    port: int
    workers: int
    redis_url: str | None
    kill_timeout_seconds: int
    run_dir: Path | None = None
    metrics_dir: Path | None = None
    log_format: str = "json"

    @property
    def log_config(self) -> Path | None:
        """Granian's own lines (the master's, "Started worker-N") in the app's JSON."""
        if self.run_dir is None or self.log_format != "json":
            return None
        return self.run_dir / "granian-logging.json"

    def command(self) -> list[str]:
        logging_options = ["--log-config", str(self.log_config)] if self.log_config else []
        return [
            sys.executable, "-m", "granian",
            "--interface", "asgi", "--factory", APP_TARGET,
            # uvloop: the event loop's own work (the selector, callbacks, timers,
            # socket transports) is about a quarter of a loaded worker's time;
            # uvloop does it in C (libuv). chatapp/shutdown.py chains SIGTERM on it.
            "--loop", "uvloop",
            "--host", self.host, "--port", str(self.port),
            "--workers", str(self.workers),
            "--respawn-failed-workers",
            "--backlog", str(BACKLOG),
            "--workers-kill-timeout", str(self.kill_timeout_seconds),
            *logging_options,
        ]

    def prepare(self) -> None:
        """The metrics directory empty (prometheus-client's multiprocess mode
        must not read a previous run's files) and Granian's logging config."""
        if self.metrics_dir is not None:
            self.metrics_dir.mkdir(parents=True, exist_ok=True)
            for stale in self.metrics_dir.glob("*.db"):
                stale.unlink()
        if self.log_config is not None:
            self.log_config.write_text(json.dumps(GRANIAN_JSON_LOGGING))

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """The workers' environment. WORKERS goes on as the checked count, so
        each worker knows its share of the machine's read budget
        (`Settings.stream_reads_per_worker`)."""
        env = {**base, **REFLEX_ENV, "REFLEX_BACKEND_PORT": str(self.port), "REFLEX_BACKEND_HOST": self.host}
        env["WORKERS"] = str(self.workers)
        env.pop("FRONTEND_PORT", None)  # Reflex refuses a frontend port for a backend-only run
        if self.redis_url:
            # Reflex reads only the prefixed variable; it switches on its Redis state manager.
            env["REFLEX_REDIS_URL"] = self.redis_url
        if self.metrics_dir is not None:
            env[MULTIPROC_DIR_VARIABLE] = str(self.metrics_dir)
        return env


# Granian's default logging config with the app's JSON formatter (chatapp/logs.py).
GRANIAN_JSON_LOGGING = {
    "formatters": {"json": {"()": "chatapp.logs.JsonFormatter"}},
    "handlers": {
        "console": {"formatter": "json", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
        "access": {"formatter": "json", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}


def fresh_run_dir(base: Path, pid: int) -> Path:
    """This start's run directory, empty; those of servers no longer
    running are removed (a killed server cleans up nothing)."""
    from chatapp.metrics import process_alive

    for old in base.glob(RUN_DIR_PREFIX + "*"):
        suffix = old.name[len(RUN_DIR_PREFIX):]
        if suffix.isdigit() and (int(suffix) == pid or not process_alive(int(suffix))):
            shutil.rmtree(old, ignore_errors=True)
    run_dir = base / f"{RUN_DIR_PREFIX}{pid}"
    run_dir.mkdir(mode=0o700)
    return run_dir


def forget_stateful_pages() -> None:
    """Removes Reflex's list of the pages that create state, which a worker that
    skips the compile reads instead of evaluating every page. A list left by an
    older build can name a page this code no longer has, and every worker would
    fail on it; with none, the first worker to start evaluates this code's pages
    and writes the list afresh (atomically, so no worker reads half of it)."""
    from reflex.utils.prerequisites import get_backend_dir

    (get_backend_dir() / reflex_constants.Dirs.STATEFUL_PAGES).unlink(missing_ok=True)


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


def plan(settings: Settings, env: Mapping[str, str], *, run_dir: Path | None = None) -> ServePlan:
    """What to serve, or a `ConfigError` saying why not. The workers' metrics
    go to PROMETHEUS_MULTIPROC_DIR when the operator sets it, else to the
    run directory."""
    check_jwt_secret(settings.jwt_secret)
    workers = settings.workers
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
        run_dir=run_dir,
        metrics_dir=Path(env[MULTIPROC_DIR_VARIABLE]) if env.get(MULTIPROC_DIR_VARIABLE)
        else run_dir / "metrics" if run_dir else None,
        log_format=settings.log_format,
    )


def main() -> None:
    try:
        settings = Settings()
        serve_plan = plan(settings, os.environ, run_dir=fresh_run_dir(Path(tempfile.gettempdir()), os.getpid()))
    except ConfigError as error:
        print(f"make api: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValidationError as error:
        print(f"make api: {setting_errors(error)}", file=sys.stderr)
        raise SystemExit(2) from None
    from chatapp.db import upgrade_database

    upgrade_database(settings.sqlalchemy_url)
    serve_plan.prepare()
    forget_stateful_pages()
    command = serve_plan.command()
    os.execve(command[0], command, serve_plan.environment(os.environ))


if __name__ == "__main__":
    main()
