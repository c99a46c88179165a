"""The chat page's state: only what the page shows, re-read from the
database through the service layer on load, on navigation and after every
turn, so a reload or a backend restart shows exactly what is stored.

Every handler authenticates the token first. Turns run in background
handlers that take the state lock only for short updates (never across the
agent run), so the page stays responsive while the assistant works.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import reflex as rx
from reflex.event import EventSpec

from chatapp.db import get_engine
from chatapp.services import conversations as conversation_service
from chatapp.services.auth import authenticate
from chatapp.config import get_settings
from chatapp.services import turns
from chatapp.services.database import in_thread
from chatapp.services.errors import Conflict, InvalidAuth, InvalidInput, ServiceError
from chatapp.services.turn_events import TurnEvent
from chatapp.services.turns import MAX_MESSAGE_CHARS
from chatapp.ui.live import LiveReply, event_failure
from chatapp.ui.reads import (
    PageData,
    parse_conversation_id,
    read_page,
    read_sidebar,
    read_tasks,
    read_thread,
)
from chatapp.ui.state import HOME_ROUTE, SESSION_EXPIRED, AuthState
from chatapp.ui.views import (
    ConversationView,
    MessageView,
    TaskView,
    ToolCallView,
    message_view,
    pending_message,
    tidy_partial,
)

# Errors after which sending the same turn again can succeed.
RETRYABLE = {"agent_error", "timeout", "database_error", "internal_error"}
NOT_FOUND_TEXT = "Conversation not found."
NOTHING_TO_REGENERATE = "There is no reply to regenerate."

# send: a new message; retry: answer the stored last message (or send the
# text again if it was never stored); regenerate: replace the last reply.
TurnMode = Literal["send", "retry", "regenerate"]


def conversation_in_path(path: str) -> str:
    """`/chat/<id>` → "<id>"; `/chat` → "" (a new chat)."""
    parts = [part for part in str(path).split("?")[0].split("/") if part]
    return parts[1] if len(parts) >= 2 and parts[0] == "chat" else ""


def too_long_text(length: int) -> str:
    return f"Your message is {length:,} characters; the limit is {MAX_MESSAGE_CHARS:,}. Shorten it to send."


async def open_stream(
    user_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    text: str,
    *,
    mode: TurnMode,
) -> AsyncIterator[TurnEvent]:
    """Start one streamed turn through the service layer. The user message
    is stored (or the input refused, raising) before this returns."""
    engine, settings = get_engine(), get_settings()
    if mode == "regenerate":
        if conversation_id is None:
            raise InvalidInput(NOTHING_TO_REGENERATE)
        begun = await turns.begin_answer(engine, settings, user_id=user_id, conversation_id=conversation_id, regenerate=True)
        return turns.turn_events(engine, settings, begun, user_id=user_id)
    if mode == "retry" and conversation_id is not None:
        try:
            begun = await turns.begin_answer(engine, settings, user_id=user_id, conversation_id=conversation_id, regenerate=False)
            return turns.turn_events(engine, settings, begun, user_id=user_id)
        except Conflict:
            if not text:
                raise
    begun = await turns.begin_turn(engine, settings, user_id=user_id, message=text, conversation_id=conversation_id)
    return turns.turn_events(engine, settings, begun, user_id=user_id)


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

    # The reply being streamed: shown in a live bubble while `running`, then
    # dropped for the stored message when the page is re-read.
    live_for: str = ""  # the conversation it belongs to ("" until a new chat has its id)
    live_text: str = ""
    live_calls: list[ToolCallView] = []
    stop_requested: bool = False
    _redirect_to: str = ""  # a turn sent the page to this new conversation; its load is pending

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
    def live_shown(self) -> bool:
        """The live bubble belongs on this page (not on another conversation
        the person opened while the reply streams)."""
        return self.running and self.live_for == self.current_id

    @rx.var
    def regenerate_id(self) -> str:
        """The reply Regenerate would replace: the thread's last message,
        when it is a stored assistant reply and no turn is running."""
        if self.running or not self.messages:
            return ""
        last = self.messages[-1]
        return last.id if last.role == "assistant" and not last.pending else ""

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

    def _begin_turn(self) -> None:
        self.running = True
        self.stop_requested = False
        self.live_for = self.current_id
        self.live_text = ""
        self.live_calls = []
        self._clear_error()

    def _end_turn(self) -> None:
        self.running = False
        self.stop_requested = False
        self.live_text = ""
        self.live_calls = []

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
        if self._redirect_to == self.current_id:
            self._redirect_to = ""
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
    async def send(self, form_data: dict[str, Any]) -> AsyncIterator[Any]:
        """Composer submit (Enter or the send button)."""
        async for update in self._start_turn(str(form_data.get("message", ""))):
            yield update

    @rx.event(background=True)
    async def send_prompt(self, text: str) -> AsyncIterator[Any]:
        """An example prompt from the empty state."""
        async for update in self._start_turn(text):
            yield update

    @rx.event(background=True)
    async def retry(self) -> AsyncIterator[Any]:
        """After a failed turn, or for a stored message left unanswered."""
        async with self:
            if self.running or not (self.can_retry or self.unanswered):
                return
            view_id, token, text = self.current_id, self.token, self.retry_text
            self._begin_turn()
        async for update in self._run_turn(view_id=view_id, token=token, text=text, mode="retry"):
            yield update

    @rx.event(background=True)
    async def regenerate(self) -> AsyncIterator[Any]:
        """Replace the last reply with a fresh one, streamed in its place."""
        async with self:
            if self.running or not self.regenerate_id:
                return
            view_id, token = self.current_id, self.token
            self._begin_turn()
            self.messages = self.messages[:-1]  # the live bubble takes its place
        async for update in self._run_turn(view_id=view_id, token=token, text="", mode="regenerate"):
            yield update

    @rx.event
    async def stop(self) -> None:
        """The Stop button: asks the conversation's running turn to stop,
        wherever it runs; it stores the partial reply as stopped."""
        if not self.running or self.stop_requested:
            return
        self.stop_requested = True
        conversation_id = parse_conversation_id(self.live_for or self.current_id)
        if conversation_id is None:
            return
        engine = get_engine()
        try:
            user_id = await in_thread(authenticate, engine, self.token or None)
            await turns.stop(engine, get_settings(), user_id=user_id, conversation_id=conversation_id)
        except ServiceError:
            self.stop_requested = False

    async def _start_turn(self, text: str) -> AsyncIterator[Any]:
        """Show the message at once (optimistic), then run the turn."""
        async with self:
            if self.running or self.not_found or not text.strip():
                return
            if len(text) > MAX_MESSAGE_CHARS:
                self._set_error(too_long_text(len(text)))
                return
            self._begin_turn()
            self.draft = ""
            self.messages = [*self.messages, pending_message(text)]
            view_id, token = self.current_id, self.token
        async for update in self._run_turn(view_id=view_id, token=token, text=text, mode="send"):
            yield update

    async def _run_turn(self, *, view_id: str, token: str, text: str, mode: TurnMode) -> AsyncIterator[Any]:
        """Stream the turn with no lock held, taking it briefly for each
        update of the live bubble; then re-read everything the page shows. A
        failed turn still re-reads: the user message is stored, so it stays
        on screen, and the notice offers a retry."""
        engine = get_engine()
        conversation_id = parse_conversation_id(view_id)
        page_id = view_id  # what `current_id` is while the page shows this turn
        live = LiveReply()
        failure: ServiceError | None = None
        try:
            try:
                user_id = await in_thread(authenticate, engine, token or None)
            except InvalidAuth:
                async with self:
                    ended = self._end_session()
                yield ended
                return
            except ServiceError as error:  # the database is down: nothing to re-read either
                async with self:
                    self._end_turn()
                    self._set_error(error.message, code=error.error_code, retry_text=text)
                return
            try:
                events = await open_stream(user_id, conversation_id, text, mode=mode)
            except InvalidAuth:
                async with self:
                    ended = self._end_session()
                yield ended
                return
            except ServiceError as error:
                failure = error
                conversation_id = error.conversation_id or conversation_id
            else:
                async for event in events:
                    if event.name == "user_message":
                        conversation_id = uuid.UUID(event.data["conversation_id"])
                        async with self:
                            page_id, redirect = self._show_sent(
                                message_view(event.data["message"]), view_id=view_id, shown_id=str(conversation_id)
                            )
                        if redirect is not None:
                            yield redirect
                    elif event.name == "error":
                        failure = event_failure(event.data)
                    elif live.add(event):
                        # A finished tool call may have changed the list:
                        # the tasks panel follows at once, read from the DB.
                        tasks = await self._read_tasks(user_id) if event.name == "tool_result" else None
                        async with self:
                            self._show_live(live)
                            if tasks is not None:
                                self.tasks = tasks
            shown_id = str(conversation_id) if conversation_id else ""
            if failure is not None and failure.error_code == InvalidAuth.error_code:
                async with self:
                    ended = self._end_session()
                yield ended
                return
            try:
                data: PageData | None = await in_thread(read_page, engine, user_id=user_id, conversation_id=shown_id)
            except ServiceError as error:
                data, failure = None, failure or error
        except Exception:
            async with self:
                self._end_turn()
                self._set_error("Something went wrong. Try again.", code="internal_error", retry_text=text)
            raise
        async with self:
            redirect = self._show_turn_end(
                data, failure, page_id=page_id, view_id=view_id, shown_id=shown_id, text=text
            )
        if redirect is not None:
            yield redirect

    @staticmethod
    async def _read_tasks(user_id: uuid.UUID) -> list[TaskView] | None:
        try:
            return await in_thread(read_tasks, get_engine(), user_id=user_id)
        except ServiceError:
            return None  # the end of the turn re-reads everything anyway

    def _show_sent(self, stored: MessageView, *, view_id: str, shown_id: str) -> tuple[str, EventSpec | None]:
        """The user message is stored: show the stored copy in place of the
        optimistic one, and give a new chat its URL (and sidebar row) now,
        while the reply streams. Returns the turn's page id and a redirect."""
        self.live_for = shown_id
        if self.current_id != view_id:
            return view_id, None  # the person moved on; the end of the turn refreshes the lists
        kept = [message for message in self.messages if not message.pending and message.id != stored.id]
        self.messages = [*kept, stored]
        if shown_id == view_id:
            return view_id, None
        self.current_id = shown_id
        self._redirect_to = shown_id
        return shown_id, rx.redirect(f"/chat/{shown_id}", replace=True)

    def _show_live(self, live: LiveReply) -> None:
        if live.text_changed:
            self.live_text = tidy_partial(live.text)
        if live.calls_changed:
            self.live_calls = list(live.calls)
        live.flushed()

    def _show_turn_end(
        self,
        data: PageData | None,
        failure: ServiceError | None,
        *,
        page_id: str,
        view_id: str,
        shown_id: str,
        text: str,
    ) -> EventSpec | None:
        """Replace the live bubble with what was stored (and the notice, if
        the turn failed). Returns a redirect when a new chat got its id only
        now (the turn failed before its message was stored)."""
        self._end_turn()
        if self.current_id != page_id:
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
        if not shown_id or shown_id == view_id:
            return None
        # The page's load of the new URL is still to come: keep the notice.
        self._keep_error = failure is not None
        if page_id == shown_id:  # already redirected when the message was stored
            if self._redirect_to != shown_id:
                self._keep_error = False
            return None
        self._redirect_to = shown_id
        return rx.redirect(f"/chat/{shown_id}", replace=True)

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

