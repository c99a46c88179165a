"""The environment every test runs in, set before the app is imported:
offline, deterministic and quiet (no key, no traces, a fixed secret)."""

from __future__ import annotations

import os

# High enough that no test (or `make api` it starts) measures the limiter;
# rate-limit tests set tight limits of their own.
GENEROUS_LIMIT = "100000/minute"


def use_test_environment() -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL", "MCP_URL"):
        os.environ.pop(name, None)
    os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    os.environ.setdefault("JWT_SECRET", "test-secret-" + "x" * 64)  # long enough for the HS512 negative test
    for name in ("LOGIN_PER_IP", "LOGIN_PER_EMAIL", "REGISTER_PER_IP", "REGISTER_PER_EMAIL", "CHAT_PER_USER"):
        os.environ[f"RATE_LIMIT_{name}"] = GENEROUS_LIMIT
