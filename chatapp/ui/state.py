"""Who is signed in: the token in the browser's localStorage, checked by the
service layer in every event handler (a redirect on page load alone would
protect nothing, since any handler can be called directly over the socket).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import reflex as rx
from reflex.event import EventSpec

from chatapp.services import auth
from chatapp.services.database import in_thread
from chatapp.services.errors import InvalidAuth, ServiceError
from chatapp.ui.parts import app_parts

LOGIN_ROUTE = "/login"
SIGNUP_ROUTE = "/signup"
HOME_ROUTE = "/chat"
SESSION_EXPIRED = "Your session has expired. Please sign in again."


class AuthState(rx.State):
    """The session. `token` lives in localStorage (synced across tabs), so a
    reload keeps the person signed in; everything else here is page text."""

    token: str = rx.LocalStorage("", name="jwt", sync=True)
    email: str = ""
    form_error: str = ""
    notice: str = ""
    busy: bool = False

    async def _user_id(self) -> uuid.UUID | None:
        """The signed-in user, or None for a missing, expired or forged token.
        A database outage is not a sign-out: `Unavailable` propagates."""
        if not self.token:
            return None
        try:
            parts = app_parts()
            return await in_thread(auth.authenticate, parts.engine, self.token, parts.settings)
        except InvalidAuth:
            return None

    async def _user_or_sign_out(self) -> tuple[uuid.UUID | None, EventSpec | None]:
        """(user id, None), or (None, the event to return) when the session
        ended (to the login page) or the database is down (a toast)."""
        try:
            user_id = await self._user_id()
        except ServiceError as error:
            return None, rx.toast.error(error.message)
        if user_id is None:
            return None, self._sign_out(SESSION_EXPIRED)
        return user_id, None

    def _sign_out(self, notice: str = "") -> EventSpec:
        """Forget the token and go to the login page; `notice` says why when
        the session ended on its own."""
        self.notice = notice if self.token else ""
        self.token = ""
        self.email = ""
        return rx.redirect(LOGIN_ROUTE)

    def _signed_in(self, session: auth.Session) -> EventSpec:
        self.token = session.access_token
        self.email = session.email
        self.form_error = ""
        self.notice = ""
        return rx.redirect(HOME_ROUTE)

    @rx.event
    async def open_auth_page(self) -> Any:
        """on_load of /login and /signup: someone already signed in goes
        straight to the chat."""
        self.form_error = ""
        self.busy = False
        try:
            user_id = await self._user_id()
        except ServiceError as error:
            self.form_error = error.message
            return None
        if user_id is not None:
            return rx.redirect(HOME_ROUTE)
        self.token = ""  # expired or forged: drop it
        return None

    async def _submit_credentials(self, action: Literal["login", "register"], form_data: dict[str, Any]) -> Any:
        """Sign in or sign up: the same form, the same errors, a different
        service call; rate limited and hashed on the bounded pool, like the API."""
        self.busy = True
        self.form_error = ""
        yield
        email, password = str(form_data.get("email", "")), str(form_data.get("password", ""))
        parts = app_parts()
        operation = auth.login_bounded if action == "login" else auth.register_bounded
        try:
            await parts.limiter.hit(f"{action}_ip", self.router.session.client_ip or "unknown")
            await parts.limiter.hit(f"{action}_email", email.strip().lower())
            session = await operation(parts.engine, parts.hashing, email=email, password=password, settings=parts.settings)
        except ServiceError as error:
            self.form_error = error.message
            self.busy = False
            return
        self.busy = False
        yield self._signed_in(session)

    @rx.event
    async def log_in(self, form_data: dict[str, Any]) -> Any:
        async for update in self._submit_credentials("login", form_data):
            yield update

    @rx.event
    async def sign_up(self, form_data: dict[str, Any]) -> Any:
        async for update in self._submit_credentials("register", form_data):
            yield update

    @rx.event
    def go_home(self) -> EventSpec:
        """`/` has nothing of its own; /chat decides between chat and login."""
        return rx.redirect(HOME_ROUTE, replace=True)
