"""A throwaway redis-server for the test suite and the benchmarks: real
Redis on 127.0.0.1, no persistence, its own process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

from tests.support.ports import free_port


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def url_for(self, db: int) -> str:
        return f"{self.url}/{db}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)


def start_redis(timeout: float = 10.0) -> RedisServer:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--databases", "64"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return RedisServer(port, process)
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("redis-server exited at start") from None
            time.sleep(0.05)
    process.kill()
    raise TimeoutError(f"redis-server not listening on {port} after {timeout}s")
