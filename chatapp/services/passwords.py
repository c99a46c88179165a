"""Password hashing with bounded concurrency.

An argon2id hash with argon2-cffi's defaults holds 64 MiB while it runs. Run
on the shared worker-thread pool (40 threads, also serving every database
call), a login flood took the server from 0.8 to 3.3 GB and starved chat of
threads. Here hashes run on their own small thread pool: at most
`PASSWORD_HASH_CONCURRENCY` at once (memory ≤ that × 64 MiB), the rest
wait their turn without holding a thread or memory, and the database
threads stay free for everything else.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")


# Hashing threads run at a lower CPU priority (Linux nice is per thread, and
# argon2's own lane threads inherit it), so a login flood cannot take the CPU
# from the event loop serving chat: measured with 100 concurrent logins on 2
# cores, /api/health went from 350 ms worst case to a few ms.
HASH_THREAD_NICE = 10


def lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
        pass


class PasswordHashing:
    def __init__(self, concurrency: int, hasher: PasswordHasher | None = None) -> None:
        self.concurrency = max(1, concurrency)
        self.hasher = hasher or PasswordHasher()
        self.executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="password-hash", initializer=lower_priority
        )

    async def _run(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function)

    async def hash(self, password: str) -> str:
        return await self._run(functools.partial(self.hasher.hash, password))

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await self._run(check)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
