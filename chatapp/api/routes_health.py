"""Liveness with the database's state, for load balancers and operators."""

from __future__ import annotations

import functools

import anyio
import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from chatapp.api.deps import EngineDep
from chatapp.api.schemas import Health
from chatapp.services.database import transaction
from chatapp.services.errors import Unavailable

router = APIRouter(prefix="/api", tags=["health"])
# A load balancer's probe must get an answer within 1 s; psycopg will not
# give up connecting in less than 2 s, so the probe stops waiting first.
HEALTH_TIMEOUT_SECONDS = 0.8


def ping(engine: Engine) -> None:
    with transaction(engine) as connection:
        connection.execute(text("SELECT 1"))


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(engine: EngineDep) -> JSONResponse:
    """200 when the database answers, 503 when it does not (or not in time)."""
    try:
        with anyio.fail_after(HEALTH_TIMEOUT_SECONDS):
            # Abandoned on timeout: the thread finishes its connect attempt
            # (bounded by the connect timeout) and returns its connection.
            await anyio.to_thread.run_sync(functools.partial(ping, engine), abandon_on_cancel=True)
    except (Unavailable, TimeoutError):
        return JSONResponse(status_code=503, content={"status": "error", "database": "unavailable"})
    return JSONResponse(content={"status": "ok", "database": "ok"})
