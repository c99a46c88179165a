"""The chat page's state: only what the page shows, re-read from the
database through the service layer on load, on navigation and after every
turn, so a reload or a backend restart shows exactly what is stored.

Every handler authenticates the token first. Turns run in background
handlers that take the state lock only for short updates (never across the
agent run), so the page stays responsive while the assistant works.
"""

from __future__ import annotations

import uuid
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from chatapp.db import get_engine
from chatapp.services import conversations as conversation_service
from chatapp.services.auth import authenticate
from chatapp.services.chat import (
    MAX_MESSAGE_CHARS,
    TurnResult,
    answer_last_message,
    chat_turn,
)
from chatapp.services.database import in_thread
from chatapp.services.errors import InvalidAuth, InvalidInput, ServiceError
from chatapp.ui.reads import (
    PageData,
    parse_conversation_id,
    read_page,
    read_sidebar,
    read_thread,
)
from chatapp.ui.state import HOME_ROUTE, SESSION_EXPIRED, AuthState
from chatapp.ui.views import ConversationView, MessageView, TaskView, pending_message

# Errors after which sending the same turn again can succeed.
RETRYABLE = {"agent_error", "timeout", "database_error", "internal_error"}
NOT_FOUND_TEXT = "Conversation not found."


def conversation_in_path(path: str) -> str:
    """`/chat/<id>` → "<id>"; `/chat` → "" (a new chat)."""
    parts = [part for part in str(path).split("?")[0].split("/") if part]
    return parts[1] if len(parts) >= 2 and parts[0] == "chat" else ""


def too_long_text(length: int) -> str:
    return f"Your message is {length:,} characters; the limit is {MAX_MESSAGE_CHARS:,}. Shorten it to send."


async def run_turn(user_id: uuid.UUID, conversation_id: uuid.UUID | None, text: str, *, retry: bool) -> TurnResult:
    """One turn through the service layer. A retry answers the stored last
    message; if that message never reached the database (the last stored
    message already has a reply), the text is sent again instead."""
    engine = get_engine()
    if retry and conversation_id is not None:
        try:
            return await answer_last_message(engine, user_id=user_id, conversation_id=conversation_id)
        except InvalidInput:
            if not text:
                raise
    return await chat_turn(engine, user_id=user_id, message=text, conversation_id=conversation_id)


class ChatState(AuthState):
    """The signed-in chat page: sidebar, thread, composer and tasks panel."""

    current_id: str = ""  # the conversation shown; "" is a new chat
    title: str = ""
    messages: list[MessageView] = []
    has_older: bool = False
    not_found: bool = False
    loaded: bool = False
    conversations: list[ConversationView] = []
    tasks: list[TaskView] = []

    draft: str = ""
    running: bool = False
    loading_older: bool = False

    error: str = ""
    error_for: str = ""  # the conversation the error belongs to
    can_retry: bool = False
    retry_text: str = ""  # the failed message, resent if it was never stored
    _keep_error: bool = False  # the turn's own redirect: its notice survives that one load

    renaming_id: str = ""
    rename_draft: str = ""
    delete_id: str = ""
    sidebar_open: bool = False
    tasks_open: bool = False

    # ----------------------------------------------------------------- views

    @rx.var
    def draft_length(self) -> int:
        return len(self.draft)

    @rx.var
    def over_limit(self) -> bool:
        return len(self.draft) > MAX_MESSAGE_CHARS

    @rx.var
    def pending_tasks(self) -> list[TaskView]:
        return [task for task in self.tasks if not task.completed]

    @rx.var
    def completed_tasks(self) -> list[TaskView]:
        return [task for task in self.tasks if task.completed]

    @rx.var
    def delete_title(self) -> str:
        return next((row.title for row in self.conversations if row.id == self.delete_id), "")

    @rx.var
    def show_error(self) -> bool:
        return bool(self.error) and self.error_for == self.current_id

    @rx.var
    def unanswered(self) -> bool:
        """The stored thread ends with a message that got no reply (a turn
        failed, perhaps before a reload): offer to answer it."""
        return (
            bool(self.messages)
            and self.messages[-1].role == "user"
            and not self.messages[-1].pending
            and not self.running
            and not (self.error and self.error_for == self.current_id)
        )

    @rx.var
    def is_empty(self) -> bool:
        return self.loaded and not self.not_found and not self.messages

    # --------------------------------------------------------------- helpers

    def _set_error(self, message: str, *, code: str = "", retry_text: str = "") -> None:
        self.error = message
        self.error_for = self.current_id
        self.can_retry = code in RETRYABLE
        self.retry_text = retry_text

    def _clear_error(self) -> None:
        self.error = ""
        self.error_for = ""
        self.can_retry = False
        self.retry_text = ""

    def _show(self, data: PageData, route_id: str) -> None:
        """Replace what the page shows with a fresh read."""
        shown = data.thread.conversation_id if data.thread else route_id
        if not (self._keep_error and self.error_for == shown):
            self._clear_error()
        self._keep_error = False
        self.current_id = shown
        self.email = data.email
        self.conversations = data.conversations
        self.tasks = data.tasks
        self.not_found = data.not_found
        if data.thread is not None:
            self.title = data.thread.title
            self.messages = data.thread.messages
            self.has_older = data.thread.has_older
        else:
            self.title = NOT_FOUND_TEXT if data.not_found else "New chat"
            self.messages = []
            self.has_older = False
        self.loaded = True

    def _end_session(self) -> EventSpec:
        """The token no longer authenticates anyone: forget the page too."""
        self.reset()
        return self._sign_out(SESSION_EXPIRED)

    async def _user_or_sign_out(self) -> tuple[uuid.UUID | None, EventSpec | None]:
        """(user id, None), or (None, the event to return) when the session
        ended (to the login page) or the database is down (a toast)."""
        try:
            user_id = await self._user_id()
        except ServiceError as error:
            return None, rx.toast.error(error.message)
        if user_id is None:
            return None, self._end_session()
        return user_id, None

    # ------------------------------------------------------------ navigation

    @rx.event
    async def load_page(self) -> Any:
        """on_load of /chat and /chat/[conversation_id]."""
        self.renaming_id = ""
        self.delete_id = ""
        self.sidebar_open = False
        self.tasks_open = False
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            self.loaded = True
            return stop
        route_id = conversation_in_path(self.router.url.path)
        try:
            data = await in_thread(read_page, get_engine(), user_id=user_id, conversation_id=route_id)
        except ServiceError as error:
            # Show nothing rather than the previous page under this URL.
            self.current_id, self.title, self.messages, self.has_older = route_id, "", [], False
            self._set_error(error.message)
            self.loaded = True
            return rx.toast.error(error.message)
        self._show(data, route_id)
        return None

    @rx.event
    async def load_older(self) -> Any:
        """The next older page of the thread, prepended (the browser keeps
        the view on the message that was at the top: thread_scroll.py)."""
        if self.loading_older or not self.has_older or not self.messages:
            return
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            yield stop
            return
        conversation_id = parse_conversation_id(self.current_id)
        if conversation_id is None:
            return
        anchor = self.messages[0].seq
        self.loading_older = True
        yield
        try:
            thread = await in_thread(
                read_thread, get_engine(), user_id=user_id, conversation_id=conversation_id, before_seq=anchor
            )
        except ServiceError as error:
            self.loading_older = False
            yield rx.toast.error(error.message)
            return
        self.loading_older = False
        if str(conversation_id) != self.current_id or not self.messages or self.messages[0].seq != anchor:
            return  # the page moved on while this was read
        self.messages = thread.messages + self.messages
        self.has_older = thread.has_older

    @rx.event
    def new_chat(self) -> EventSpec:
        self.sidebar_open = False
        return rx.redirect(HOME_ROUTE)

    @rx.event
    def toggle_sidebar(self) -> None:
        self.sidebar_open = not self.sidebar_open
        self.tasks_open = False

    @rx.event
    def toggle_tasks(self) -> None:
        self.tasks_open = not self.tasks_open
        self.sidebar_open = False

    @rx.event
    def close_panels(self) -> None:
        self.sidebar_open = False
        self.tasks_open = False

    @rx.event
    def sign_out(self) -> EventSpec:
        self.reset()
        self.notice = ""
        return self._sign_out()

    # ------------------------------------------------------------------ turns

    @rx.event
    def set_draft(self, value: str) -> None:
        self.draft = value
        if self.error and not self.can_retry:
            self._clear_error()

    @rx.event(background=True)
    async def send(self, form_data: dict[str, Any]) -> Any:
        """Composer submit (Enter or the send button)."""
        return await self._start_turn(str(form_data.get("message", "")))

    @rx.event(background=True)
    async def send_prompt(self, text: str) -> Any:
        """An example prompt from the empty state."""
        return await self._start_turn(text)

    @rx.event(background=True)
    async def retry(self) -> Any:
        async with self:
            if self.running or not (self.can_retry or self.unanswered):
                return None
            view_id, token, text = self.current_id, self.token, self.retry_text
            self.running = True
            self._clear_error()
        return await self._finish_turn(view_id=view_id, token=token, text=text, retry=True)

    async def _start_turn(self, text: str) -> Any:
        """Show the message at once (optimistic), then run the turn."""
        async with self:
            if self.running or self.not_found or not text.strip():
                return None
            if len(text) > MAX_MESSAGE_CHARS:
                self._set_error(too_long_text(len(text)))
                return None
            self.running = True
            self._clear_error()
            self.draft = ""
            self.messages = [*self.messages, pending_message(text)]
            view_id, token = self.current_id, self.token
        return await self._finish_turn(view_id=view_id, token=token, text=text, retry=False)

    async def _finish_turn(self, *, view_id: str, token: str, text: str, retry: bool) -> Any:
        """Run the agent with no lock held, then re-read everything the page
        shows. A failed turn still re-reads: the user message is stored, so
        it stays on screen, and the notice offers a retry."""
        engine = get_engine()
        conversation_id = parse_conversation_id(view_id)
        failure: ServiceError | None = None
        try:
            try:
                user_id = await in_thread(authenticate, engine, token or None)
            except InvalidAuth:
                async with self:
                    return self._end_session()
            try:
                result = await run_turn(user_id, conversation_id, text, retry=retry)
                conversation_id = result.conversation_id
            except InvalidAuth:
                async with self:
                    return self._end_session()
            except ServiceError as error:
                failure = error
                conversation_id = error.conversation_id or conversation_id
            shown_id = str(conversation_id) if conversation_id else ""
            try:
                data: PageData | None = await in_thread(read_page, engine, user_id=user_id, conversation_id=shown_id)
            except ServiceError as error:
                data, failure = None, failure or error
        except Exception:
            async with self:
                self.running = False
                self._set_error("Something went wrong. Try again.", code="internal_error", retry_text=text)
            raise
        async with self:
            self.running = False
            if self.current_id != view_id:
                # The person moved to another conversation meanwhile: keep
                # that page, only refresh the lists every page shows.
                if data is not None:
                    self.conversations, self.tasks = data.conversations, data.tasks
                return None
            if data is not None:
                self._show(data, shown_id)
            if failure is not None:
                self.current_id = shown_id
                self._set_error(failure.message, code=failure.error_code, retry_text=text)
            if shown_id and shown_id != view_id:
                self._keep_error = failure is not None
                return rx.redirect(f"/chat/{shown_id}", replace=True)
        return None

    # ---------------------------------------------------------------- sidebar

    @rx.event
    def start_rename(self, conversation_id: str, title: str) -> None:
        self.renaming_id = conversation_id
        self.rename_draft = title

    @rx.event
    def set_rename_draft(self, value: str) -> None:
        self.rename_draft = value

    @rx.event
    def cancel_rename(self) -> None:
        self.renaming_id = ""

    @rx.event
    def rename_key(self, key: str) -> Any:
        if key == "Escape":
            self.renaming_id = ""
        return None

    @rx.event
    async def save_rename(self, form_data: dict[str, Any] | None = None) -> Any:
        target = parse_conversation_id(self.renaming_id)
        title = str((form_data or {}).get("title", self.rename_draft))
        self.renaming_id = ""
        if target is None:
            return None
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            return stop
        try:
            renamed = await in_thread(
                conversation_service.rename_conversation, get_engine(), user_id=user_id, conversation_id=target, title=title
            )
            self.conversations = await in_thread(read_sidebar, get_engine(), user_id=user_id)
        except ServiceError as error:
            return rx.toast.error(error.message)
        if renamed["id"] == self.current_id:
            self.title = renamed["title"]
        return None

    @rx.event
    def ask_delete(self, conversation_id: str) -> None:
        self.delete_id = conversation_id

    @rx.event
    def cancel_delete(self) -> None:
        self.delete_id = ""

    @rx.event
    def delete_dialog_changed(self, is_open: bool) -> None:
        if not is_open:
            self.delete_id = ""

    @rx.event
    async def confirm_delete(self) -> Any:
        target = parse_conversation_id(self.delete_id)
        self.delete_id = ""
        if target is None:
            return None
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            return stop
        try:
            await in_thread(conversation_service.delete_conversation, get_engine(), user_id=user_id, conversation_id=target)
            self.conversations = await in_thread(read_sidebar, get_engine(), user_id=user_id)
        except ServiceError as error:
            return rx.toast.error(error.message)
        if str(target) == self.current_id:
            return rx.redirect(HOME_ROUTE, replace=True)
        return None

