"""Serving the API for tests: in a thread (fast) or as `make api` (a real
process that can be killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from tests.support.paths import ARTIFACTS, ROOT


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


def child_pids(pid: int) -> list[int]:
    """Children of a process, from /proc (field 4 of /proc/<pid>/stat is the parent)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry.name))
    return sorted(children)


def is_alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        status = (Path("/proc") / str(pid) / "status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


class ApiProcess:
    """`make api` in its own process group, so kill -9 takes all of it.
    `workers` > 1 needs `REDIS_URL` in `env` (and PostgreSQL, in practice)."""

    def __init__(self, port: int, env: dict[str, str], workers: int = 1) -> None:
        self.port = port
        self.workers = workers
        self.env = {**os.environ, **env, "BACKEND_PORT": str(port), "WORKERS": str(workers)}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = ARTIFACTS / f"api-{port}.log"
        self.log_offset = 0
        # What the server logged from its start until every worker served.
        self.start_log = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        """Returns once /api/health answers and every worker says it serves."""
        self.log.parent.mkdir(exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "api", f"WORKERS={self.workers}"], cwd=ROOT, env=self.env,
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"make api exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/api/health", timeout=1).status_code == 200 and self.all_workers_up():
                    self.start_log = self.log_since_start()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"make api not healthy after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def all_workers_up(self) -> bool:
        return self.started_workers() >= self.workers

    def log_since_start(self) -> str:
        with self.log.open("rb") as handle:
            handle.seek(self.log_offset)
            return handle.read().decode(errors="replace")

    def started_workers(self) -> int:
        """How many times a worker reported it serves (Granian logs "Started
        worker-N" from inside the worker), since this `start`, respawns included."""
        return self.log_since_start().count("Started worker-")

    def master_pid(self) -> int:
        """Granian's master: `make`'s only child (the recipe execs into it)."""
        assert self.process is not None
        children = child_pids(self.process.pid)
        if len(children) != 1:
            raise RuntimeError(f"expected one child of make, found {children}")
        return children[0]

    def worker_pids(self) -> list[int]:
        """Granian's workers are forked from the master, so they share its
        command line (anything else it starts, like a resource tracker, does not)."""
        try:
            master = self.master_pid()
        except RuntimeError:
            return []
        return [pid for pid in child_pids(master) if cmdline(pid) == cmdline(master)]

    def terminate(self) -> None:
        """SIGTERM to Granian's master, as a deploy or `docker stop` sends it."""
        os.kill(self.master_pid(), signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
