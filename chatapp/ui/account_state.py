"""The account menu: sign out everywhere, change the password, export
everything, delete the account. Each handler checks the token (revocation
included) and calls the same service as the REST API, with the same rate
limiter and hashing pool (the app's parts, chatapp.ui.parts)."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from chatapp.services import accounts, auth
from chatapp.services.account_export import export_filename
from chatapp.services.database import in_thread
from chatapp.services.errors import InvalidAuth, ServiceError
from chatapp.ui.sidebar_state import SidebarState
from chatapp.ui.state import SESSION_EXPIRED, AuthState
from chatapp.ui.parts import app_parts

SIGNED_OUT_EVERYWHERE = "You were signed out on every device."
ACCOUNT_DELETED = "Your account and everything in it were deleted."
PASSWORD_CHANGED = "Password changed. Other devices were signed out."

# Fetches the export with the token (a link cannot send a header) and saves
# it; resolves to "" or the error to show. The zip streams from the server;
# the browser gathers it into a blob for the download.
DOWNLOAD_EXPORT = """(async () => {{
  try {{
    const response = await fetch({url}, {{headers: {{Authorization: 'Bearer ' + window.localStorage.getItem('jwt')}}}});
    if (!response.ok) {{
      const body = await response.json().catch(() => ({{}}));
      return body.error || ('Export failed (' + response.status + ').');
    }}
    const link = document.createElement('a');
    link.href = window.URL.createObjectURL(await response.blob());
    link.download = {filename};
    link.id = 'export-link';
    document.body.appendChild(link);
    link.click();
    setTimeout(() => {{ window.URL.revokeObjectURL(link.href); link.remove(); }}, 10000);
    return '';
  }} catch (error) {{
    return 'Export failed: ' + error;
  }}
}})()"""


class AccountState(AuthState):
    dialog: str = ""  # "", "password" or "delete": the account dialog that is open
    account_error: str = ""
    account_busy: bool = False

    async def _caller(self) -> tuple[auth.Identity | None, EventSpec | None]:
        """The signed-in caller with a current token, or the event that ends
        the session (or reports the outage)."""
        try:
            parts = app_parts()
            return await in_thread(auth.authenticate_identity, parts.engine, self.token or None, parts.settings), None
        except InvalidAuth:
            return None, await self._end_session(SESSION_EXPIRED)
        except ServiceError as error:
            return None, rx.toast.error(error.message)

    async def _end_session(self, notice: str) -> EventSpec:
        self.dialog = ""
        sidebar = await self.get_state(SidebarState)
        return await sidebar.forget_session(notice)

    @rx.event
    def open_dialog(self, name: str) -> None:
        self.dialog = name if name in ("password", "delete") else ""
        self.account_error = ""
        self.account_busy = False

    @rx.event
    def dialog_changed(self, is_open: bool) -> None:
        if not is_open:
            self.dialog = ""
            self.account_error = ""

    @rx.event
    async def sign_out_everywhere(self) -> Any:
        caller, ended = await self._caller()
        if caller is None:
            return ended
        try:
            await in_thread(accounts.revoke_sessions, app_parts().engine, caller)
        except InvalidAuth:
            return await self._end_session(SESSION_EXPIRED)
        except ServiceError as error:
            return rx.toast.error(error.message)
        return await self._end_session(SIGNED_OUT_EVERYWHERE)

    async def _run_guarded(self, form_data: dict[str, Any], action: str) -> Any:
        self.account_busy, self.account_error = True, ""
        yield
        caller, ended = await self._caller()
        if caller is None:
            self.account_busy = False
            yield ended
            return
        parts = app_parts()
        ip = self.router.session.client_ip or "unknown"
        try:
            if action == "password":
                session = await accounts.change_password(
                    parts.engine, parts.hashing, parts.limiter, caller,
                    current_password=str(form_data.get("current_password", "")),
                    new_password=str(form_data.get("new_password", "")), client_ip=ip, settings=parts.settings,
                )
            else:
                await accounts.delete_account(
                    parts.engine, parts.hashing, parts.limiter, caller,
                    password=str(form_data.get("password", "")), client_ip=ip, bus=parts.bus,
                )
        except InvalidAuth:
            self.account_busy = False
            yield await self._end_session(SESSION_EXPIRED)
            return
        except ServiceError as error:
            self.account_busy, self.account_error = False, error.message
            return
        self.account_busy = False
        if action == "password":
            self.token = session.access_token  # this browser stays signed in
            self.dialog = ""
            yield rx.toast.success(PASSWORD_CHANGED)
        else:
            yield await self._end_session(ACCOUNT_DELETED)

    @rx.event
    async def change_password(self, form_data: dict[str, Any]) -> Any:
        async for update in self._run_guarded(form_data, "password"):
            yield update

    @rx.event
    async def delete_account(self, form_data: dict[str, Any]) -> Any:
        async for update in self._run_guarded(form_data, "delete"):
            yield update

    @rx.event
    async def export_data(self) -> Any:
        caller, ended = await self._caller()
        if caller is None:
            return ended
        url = f"{app_parts().settings.base_url}/api/{caller.user_id}/export"
        script = DOWNLOAD_EXPORT.format(url=json.dumps(url), filename=json.dumps(export_filename()))
        return rx.call_script(script, callback=AccountState.export_finished)

    @rx.event
    def export_finished(self, error: Any) -> Any:
        if error:
            return rx.toast.error(str(error))
        return rx.toast.success("Your export was downloaded.")
