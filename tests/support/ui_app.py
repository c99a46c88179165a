"""Running the whole Reflex app (`reflex run --env prod`) for browser tests.

Each instance gets its own SQLite database, migrated here, and its own
`.web` and `.states` directories (REFLEX_WEB_WORKDIR / REFLEX_STATES_WORKDIR)
in a temp dir: the production build bakes its port into the frontend, so two
instances (or a developer's `make run`) must never share one build. In prod
mode 0.10 serves the frontend and the backend on one port, so that port is
also where the agent finds the MCP server (BACKEND_PORT, MCP_URL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from chatapp.db import upgrade_database
from tests.support.paths import ARTIFACTS, ROOT
from tests.support.ports import free_port

BIN = ROOT / ".venv" / "bin"
BUN_DIR = ROOT / ".tools" / "node_modules" / ".bin"
JWT_SECRET = "ui-test-secret-that-is-long-enough-for-hs256"


class UiApp:
    """One `reflex run --env prod` process group, started and killed here."""

    def __init__(self, name: str, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.name = name
        self.workdir = workdir
        self.port = free_port()
        self.database_url = f"sqlite:///{workdir / 'ui.db'}"
        self.log = ARTIFACTS / f"ui-{name}.log"
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL", "MCP_URL", "PYTEST_CURRENT_TEST"}
        }
        env.update(
            PATH=f"{BUN_DIR}:{BIN}:{env.get('PATH', '')}",
            REFLEX_USE_SYSTEM_BUN="1",
            REFLEX_TELEMETRY_ENABLED="false",
            REFLEX_WEB_WORKDIR=str(self.workdir / ".web"),
            REFLEX_STATES_WORKDIR=str(self.workdir / ".states"),
            DATABASE_URL=self.database_url,
            JWT_SECRET=JWT_SECRET,
            BACKEND_PORT=str(self.port),
            FRONTEND_PORT=str(self.port),
            MCP_URL=f"http://127.0.0.1:{self.port}/mcp",
            OPENAI_AGENTS_DISABLE_TRACING="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 420.0) -> UiApp:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ARTIFACTS.mkdir(exist_ok=True)
        upgrade_database(self.database_url)
        command = [
            str(BIN / "reflex"), "run", "--env", "prod",
            "--frontend-port", str(self.port), "--backend-port", str(self.port),
            "--backend-host", "127.0.0.1",
        ]
        with self.log.open("wb") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env(), stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Ready when the page, the backend and the database all answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"reflex exited early ({self.process.returncode}):\n{self.tail()}")
            try:
                page = httpx.get(f"{self.url}/login", timeout=2, follow_redirects=True)
                health = httpx.get(f"{self.url}/api/health", timeout=2)
                if page.status_code == 200 and health.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"reflex not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left."""
        if self.process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)  # the group: reflex and its server workers
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
