"""Sign-up and sign-in."""

from __future__ import annotations

from fastapi import APIRouter

from chatapp.api.deps import EngineDep
from chatapp.api.schemas import Credentials, ErrorResponse, SessionOut
from chatapp.services import auth
from chatapp.services.database import in_thread

router = APIRouter(prefix="/api/auth", tags=["auth"])
ERRORS = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 409: {"model": ErrorResponse}}


def session_out(session: auth.Session) -> SessionOut:
    return SessionOut(user_id=session.user_id, access_token=session.access_token)


@router.post("/register", status_code=201, response_model=SessionOut, responses=ERRORS)
async def register(body: Credentials, engine: EngineDep) -> SessionOut:
    """Create an account; answers with a bearer token, ready to chat."""
    return session_out(await in_thread(auth.register, engine, email=body.email, password=body.password))


@router.post("/login", response_model=SessionOut, responses=ERRORS)
async def login(body: Credentials, engine: EngineDep) -> SessionOut:
    """Exchange email and password for a bearer token."""
    return session_out(await in_thread(auth.login, engine, email=body.email, password=body.password))
