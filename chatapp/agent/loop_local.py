"""Objects that hold network connections belong to one event loop: an HTTP
pool opened on one loop cannot be used from another (tests and Reflex run
several). This keeps one of each per running loop."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Any]] = weakref.WeakKeyDictionary()


def loop_local(key: Hashable, factory: Callable[[], T]) -> T:
    objects = _per_loop.setdefault(asyncio.get_running_loop(), {})
    if key not in objects:
        objects[key] = factory()
    return objects[key]
