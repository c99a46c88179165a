"""Serving the API for tests: in a thread (fast) or as `make api` (a real
process that can be killed)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """A TCP connect, never a GET on /mcp (that opens a stream and hangs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


class ThreadServer:
    """uvicorn running one FastAPI app in a background thread."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
            proxy_headers=False,  # the app decides whom to believe (TRUSTED_PROXIES), as under granian
        ))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ApiProcess:
    """`make api` in its own process group, so kill -9 takes all of it."""

    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.env = {**os.environ, **env, "BACKEND_PORT": str(port)}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = ROOT / "test-artifacts" / f"api-{port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        self.log.parent.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "api"], cwd=ROOT, env=self.env,
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"make api exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"make api not healthy after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
