"""Liveness with the database's state, for load balancers and operators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from chatapp.api.deps import EngineDep
from chatapp.api.schemas import Health
from chatapp.services.database import in_thread, transaction
from chatapp.services.errors import Unavailable

router = APIRouter(prefix="/api", tags=["health"])


def ping(engine) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine) as connection:
        connection.execute(text("SELECT 1"))


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(engine: EngineDep) -> JSONResponse:
    """200 when the database answers, 503 when it does not."""
    try:
        await in_thread(ping, engine)
    except Unavailable:
        return JSONResponse(status_code=503, content={"status": "error", "database": "unavailable"})
    return JSONResponse(content={"status": "ok", "database": "ok"})
