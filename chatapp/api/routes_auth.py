"""Sign-up and sign-in, rate limited per client IP and per email before any
password is hashed; hashes run on the bounded hashing pool."""

from __future__ import annotations

from fastapi import APIRouter, Request

from chatapp.api.deps import PartsDep, client_address, parts_of
from chatapp.api.schemas import Credentials, ErrorResponse, Registration, SessionOut
from chatapp.services import auth
from chatapp.services.ratelimit import RateLimiter

router = APIRouter(prefix="/api/auth", tags=["auth"])
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 409, 413, 429)}


def session_out(session: auth.Session) -> SessionOut:
    return SessionOut(user_id=session.user_id, access_token=session.access_token)


def email_key(email: str) -> str:
    return email.strip().lower()


async def limit(request: Request, action: str, email: str) -> None:
    limiter: RateLimiter = parts_of(request).limiter
    await limiter.hit(f"{action}_ip", await client_address(request))
    await limiter.hit(f"{action}_email", email_key(email))


@router.post("/register", status_code=201, response_model=SessionOut, responses=ERRORS)
async def register(body: Registration, request: Request, parts: PartsDep) -> SessionOut:
    """Create an account; answers with a bearer token, ready to chat."""
    await limit(request, "register", body.email)
    session = await auth.register_bounded(parts.engine, parts.hashing, email=body.email, password=body.password,
                                         settings=parts.settings)
    return session_out(session)


@router.post("/login", response_model=SessionOut, responses=ERRORS)
async def login(body: Credentials, request: Request, parts: PartsDep) -> SessionOut:
    """Exchange email and password for a bearer token."""
    await limit(request, "login", body.email)
    session = await auth.login_bounded(parts.engine, parts.hashing, email=body.email, password=body.password,
                                         settings=parts.settings)
    return session_out(session)
