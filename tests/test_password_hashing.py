"""Password hashing runs on its own small pool: bounded concurrency, not on
the threads that serve database calls. (Memory and latency under a login
flood are measured by `make abuse`, bench/abuse.py, not here.)"""

from __future__ import annotations

import asyncio
import os
import threading
import time

from argon2 import PasswordHasher
from sqlalchemy import Engine

from fastapi.testclient import TestClient

from chatapp.api.app import create_api
from chatapp.config import Settings
from chatapp.services.passwords import HASH_THREAD_NICE, PasswordHashing


class Recording(PasswordHasher):
    """A cheap hasher that records how many verifications overlap, and where."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.threads: set[str] = set()
        self.nice: set[int] = set()

    def verify(self, hash: str, password: str) -> bool:  # type: ignore[override]
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.current_thread().name)
            self.nice.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        time.sleep(0.02)
        with self.lock:
            self.running -= 1
        return super().verify(hash, password)


def run_verifications(hashing: PasswordHashing, count: int) -> None:
    stored = hashing.hasher.hash("Correct-horse-9")

    async def flood() -> None:
        await asyncio.gather(*(hashing.verify(stored, "Wrong-horse-9") for _ in range(count)))

    asyncio.run(flood())


def test_no_more_hashes_run_at_once_than_configured() -> None:
    hasher = Recording()
    hashing = PasswordHashing(2, hasher)
    run_verifications(hashing, 12)
    assert hasher.peak == 2


def test_hashes_run_on_their_own_threads_not_the_database_pool() -> None:
    hasher = Recording()
    run_verifications(PasswordHashing(2, hasher), 4)
    assert hasher.threads and all(name.startswith("password-hash") for name in hasher.threads)


def test_hashing_threads_run_at_a_lower_cpu_priority() -> None:
    hasher = Recording()
    run_verifications(PasswordHashing(1, hasher), 2)
    assert hasher.nice == {os.getpriority(os.PRIO_PROCESS, 0) + HASH_THREAD_NICE}


def test_a_wrong_password_verifies_false_without_raising() -> None:
    hashing = PasswordHashing(1)
    stored = asyncio.run(hashing.hash("Correct-horse-9"))
    assert asyncio.run(hashing.verify(stored, "Wrong-horse-9")) is False
    assert asyncio.run(hashing.verify(stored, "Correct-horse-9")) is True


def test_the_api_builds_its_hashing_pool_from_password_hash_concurrency(engine: Engine) -> None:
    with TestClient(create_api(engine, settings=Settings(password_hash_concurrency=3))) as client:
        assert client.app.state.parts.hashing.concurrency == 3  # type: ignore[attr-defined]
