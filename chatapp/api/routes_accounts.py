"""The account itself: sign out everywhere, change the password, delete
the account, export everything. Checking a password is rate limited like a
sign-in and hashed on the bounded pool (chatapp.services.accounts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from chatapp.api.deps import ClientIp, CurrentCaller, CurrentUser, EngineDep, PartsDep
from chatapp.api.routes_auth import session_out
from chatapp.api.schemas import AccountDeletion, ErrorResponse, PasswordChange, SessionOut
from chatapp.services import account_export, accounts
from chatapp.services.database import in_thread

router = APIRouter(prefix="/api/{user_id}", tags=["account"])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (400, 401, 403, 413, 429, 503)}


@router.post("/sessions/revoke", status_code=204, responses={**ERRORS, 204: {"description": "Every token is revoked"}})
async def revoke_sessions(caller: CurrentCaller, engine: EngineDep) -> Response:
    """Sign out everywhere: every token issued so far, this one included,
    stops working at once — on the REST API, in the web UI, on the MCP server
    and for the tools of a turn in progress. Sign in again for a new one."""
    await in_thread(accounts.revoke_sessions, engine, caller)
    return Response(status_code=204)


@router.post("/password", response_model=SessionOut, responses=ERRORS)
async def change_password(
    body: PasswordChange, caller: CurrentCaller, parts: PartsDep, ip: ClientIp,
) -> SessionOut:
    """Change the password: the current one must match (403 if not; rate
    limited like sign-in), the new one follows the sign-up rules. Every other
    token is revoked; the answer carries a fresh one."""
    session = await accounts.change_password(
        parts.engine, parts.hashing, parts.limiter, caller, current_password=body.current_password,
        new_password=body.new_password, client_ip=ip, settings=parts.settings,
    )
    return session_out(session)


@router.delete("", status_code=204, responses={**ERRORS, 204: {"description": "The account and all its data are gone"}})
async def delete_account(
    body: AccountDeletion, caller: CurrentCaller, parts: PartsDep, ip: ClientIp,
) -> Response:
    """Delete the account with everything it owns (conversations, messages,
    tool calls, tasks, idempotency keys), in one transaction, once the
    password matches (403 if not; rate limited like sign-in). Turns in
    progress end as failed; every token stops working at once."""
    await accounts.delete_account(
        parts.engine, parts.hashing, parts.limiter, caller, password=body.password, client_ip=ip, bus=parts.bus,
    )
    return Response(status_code=204)


EXPORT_DOC: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        "description": "A zip: `account.json`, `conversations/<id>.json` (one per conversation, with its "
        "messages and tool calls) and `tasks.json`, each a versioned JSON document (`format`).",
    },
}


@router.get("/export", response_class=StreamingResponse, responses=EXPORT_DOC)
async def export_account(user_id: CurrentUser, engine: EngineDep) -> StreamingResponse:
    """Everything stored for you, as a zip streamed while it is written."""
    account = await in_thread(account_export.read_account, engine, user_id)
    return StreamingResponse(
        account_export.export_zip(engine, user_id, account), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{account_export.export_filename()}"',
                 "Cache-Control": "no-store"},
    )
