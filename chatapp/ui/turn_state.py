"""The composer and the turn on screen: what is being typed, and the live
bubble of a turn in progress, following the pipeline's events.

The page holds no turn policy: sending, retrying, regenerating and stopping
each call the service (chatapp.services.turns), which decides; a refusal
(a Conflict, say) is shown as it comes. A turn runs in its own task whatever
the page does. The page only follows its events: the tab that sent it, and
any page that loads the conversation while it runs (a reload, a second tab).
Background handlers take the state lock only to apply one event, never
across the agent run.

`phase` is what the page shows of the turn: "" (none), "starting" (sent,
not yet stored), "live" (streaming) or "stopping" (Stop was asked).

It is one Reflex state class, so its handlers stay in one file: Reflex
binds handlers to the class that declares them, and splitting the class
would split the one `phase` they all move.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from chatapp.services import turns
from chatapp.services.auth import Identity, authenticate, decode_identity
from chatapp.services.database import in_thread
from chatapp.services.errors import InvalidAuth, ServiceError
from chatapp.services.turn_events import ToolFinished, TurnDone, TurnEvent, TurnFailed, UserMessageStored
from chatapp.services.turns import MAX_MESSAGE_CHARS
from chatapp.ui.live import LiveReply
from chatapp.ui.reads import PageData, parse_conversation_id, read_page, read_tasks
from chatapp.ui.sidebar_state import SidebarState, TasksState
from chatapp.ui.state import SESSION_EXPIRED, AuthState
from chatapp.ui.thread_state import ThreadState
from chatapp.ui.views import ToolCallView, message_view, pending_message, tidy_partial
from chatapp.ui.parts import app_parts

SOMETHING_WENT_WRONG = "Something went wrong. Try again."
logger = logging.getLogger(__name__)


def too_long_text(length: int) -> str:
    return f"Your message is {length:,} characters; the limit is {MAX_MESSAGE_CHARS:,}. Shorten it to send."


class SessionEnded(Exception):
    """The token no longer authenticates anyone."""


async def signed_in_user(token: str) -> uuid.UUID:
    try:
        parts = app_parts()
        return await in_thread(authenticate, parts.engine, token or None, parts.settings)
    except InvalidAuth as error:
        raise SessionEnded from error


def token_caller(token: str) -> Identity:
    """For starting a turn: signature and expiry here; whether the token
    was revoked (or its user deleted) the turn's first statement says, as an
    `InvalidAuth` that ends the session like this one."""
    try:
        return decode_identity(token or None, app_parts().settings)
    except InvalidAuth as error:
        raise SessionEnded from error


class TurnState(AuthState):
    draft: str = ""
    phase: str = ""
    live_for: str = ""  # the conversation of the live bubble ("" until a new chat has its id)
    live_answer: str = ""  # the answer it stands in for
    live_text: str = ""
    live_calls: list[ToolCallView] = []
    editing_id: str = ""  # the user message being edited ("" when none)
    turn_error: str = ""  # a failure no stored answer shows (not sent, too long, ...)
    can_resend: bool = False

    _follow_id: str = ""  # the one background task that may update the live bubble
    _redirected: str = ""  # a new chat this tab's own turn just sent the page to
    # The last message sent and its Idempotency-Key, until it is surely
    # stored: sending the same text again reuses the key, so a resend after
    # a failure never stores it twice.
    _sent_text: str = ""
    _sent_for: str = ""
    _sent_key: str = ""

    # ----------------------------------------------------------------- views

    @rx.var
    def idle(self) -> bool:
        return self.phase == ""

    @rx.var
    def streaming(self) -> bool:
        return self.phase in ("live", "stopping")

    @rx.var
    def draft_length(self) -> int:
        return len(self.draft)

    @rx.var
    def over_limit(self) -> bool:
        return len(self.draft) > MAX_MESSAGE_CHARS

    # ------------------------------------------------- page load and its end

    def show_notice(self, message: str, *, resend: bool = False) -> None:
        self.turn_error = message
        self.can_resend = resend

    def leave_page(self) -> None:
        """The page shows something else: whatever followed a turn here stops
        (the turn itself runs on), and its notice goes."""
        self._follow_id = ""
        self.editing_id = ""
        self._end_live()
        self.turn_error = ""
        self.can_resend = False

    def lost_redirect(self, route_id: str) -> str:
        """The new chat this tab's own turn stored, when the page loads as a
        new chat again: the redirect to it was lost (the connection dropped
        and the page reconnected), and the page must show the stored turn
        rather than invite the same message a second time."""
        return self._redirected if not route_id and self._redirected else ""

    def keeps_following(self, route_id: str) -> bool:
        """A load of the page this tab's own turn is on, while its sender
        still follows it: just sent (not stored yet), or a new chat that has
        just been given its URL."""
        own = bool(self._follow_id) and self.live_for == route_id and (
            self.phase == "starting" or self._redirected == route_id
        )
        self._redirected = ""
        return own

    def page_loaded(self, shown_id: str, running_answer: str) -> EventSpec | None:
        """The page was re-read; attach to its turn in progress, if any (a
        reload or a second tab), replaying it from its first event."""
        self.leave_page()
        if not running_answer:
            return None
        self._follow_id = uuid.uuid4().hex
        self.phase, self.live_for, self.live_answer = "live", shown_id, running_answer
        return TurnState.follow_running(self._follow_id)

    def _begin(self, view_id: str) -> str:
        self.leave_page()
        self._follow_id = uuid.uuid4().hex
        self.phase, self.live_for = "starting", view_id
        return self._follow_id

    def _end_live(self) -> None:
        self.phase = ""
        self.live_answer = ""
        self.live_text = ""
        self.live_calls = []

    # ---------------------------------------------------------------- events

    @rx.event
    def set_draft(self, value: str) -> None:
        self.draft = value
        if self.turn_error and not self.can_resend:
            self.turn_error = ""

    @rx.event(background=True)
    async def send(self, form_data: dict[str, Any]) -> AsyncIterator[Any]:
        """Composer submit (Enter or the send button)."""
        async for update in self._send(str(form_data.get("message", "")), key=str(form_data.get("key") or "")):
            yield update

    @rx.event(background=True)
    async def send_prompt(self, text: str) -> AsyncIterator[Any]:
        """An example prompt from the empty state."""
        async for update in self._send(text):
            yield update

    @rx.event(background=True)
    async def resend(self) -> AsyncIterator[Any]:
        """Retry on the notice of a message that may not have been stored:
        the same text with the same key."""
        async with self:
            text = self._sent_text if self.can_resend else ""
        async for update in self._send(text):
            yield update

    @rx.event(background=True)
    async def retry(self) -> AsyncIterator[Any]:
        """Retry on a failed answer: the service answers the stored message
        again, in the failed answer's place."""
        async for update in self._answer_again(regenerate=False):
            yield update

    @rx.event(background=True)
    async def regenerate(self) -> AsyncIterator[Any]:
        """Replace the last answer with a fresh one, streamed in its place."""
        async for update in self._answer_again(regenerate=True):
            yield update

    @rx.event
    def start_edit(self, message_id: str) -> None:
        if self.phase == "":
            self.editing_id = message_id

    @rx.event
    def cancel_edit(self) -> None:
        self.editing_id = ""

    @rx.event(background=True)
    async def edit_resend(self, form_data: dict[str, Any]) -> AsyncIterator[Any]:
        """Edit and resend the last user message: the service replaces its
        text and answers it again in place, streamed like a regenerate."""
        async with self:
            message_id, self.editing_id = self.editing_id, ""
        content = str(form_data.get("content", ""))
        if len(content) > MAX_MESSAGE_CHARS:
            yield rx.toast.error(too_long_text(len(content)))
            return
        async for update in self._answer_again(regenerate=True, edit=(message_id, content)):
            yield update

    @rx.event(background=True)
    async def follow_running(self, follow_id: str) -> AsyncIterator[Any]:
        """Set off by a page load that found a turn in progress."""
        async with self:
            if follow_id != self._follow_id or not self.live_answer:
                return
            token, view_id, answer_id = self.token, self.live_for, uuid.UUID(self.live_answer)
        try:
            user_id = await signed_in_user(token)
        except SessionEnded:
            async with self:
                ended = self._sign_out(SESSION_EXPIRED)
            yield ended
            return
        except ServiceError as error:
            async with self:
                if follow_id == self._follow_id:
                    self._end_live()
                    self.show_notice(error.message)
            return
        events = turns.follow(app_parts(), user_id=user_id, answer_id=answer_id)
        async for update in self._follow(events, follow_id=follow_id, user_id=user_id, view_id=view_id):
            yield update

    @rx.event
    async def stop(self) -> Any:
        """Stop: asks the conversation's running turn to stop, wherever it
        runs; it stores the partial reply as stopped, and every page
        following it sees it end."""
        conversation_id = parse_conversation_id(self.live_for)
        if self.phase != "live" or conversation_id is None:
            return None
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            return stop
        self.phase = "stopping"
        try:
            await turns.stop(app_parts(), user_id=user_id, conversation_id=conversation_id)
        except ServiceError as error:
            self.phase = "live"
            return rx.toast.error(error.message)
        return None

    # ---------------------------------------------------------------- turns

    async def _send(self, text: str, *, key: str = "") -> AsyncIterator[Any]:
        """Show the message at once (optimistic), store it with its key,
        then follow the turn. `key` is the browser's key for the message;
        the same text sent again after a failure here reuses the key it
        failed with."""
        async with self:
            thread = await self.get_state(ThreadState)
            if self.phase or thread.not_found or not text.strip():
                return
            if len(text) > MAX_MESSAGE_CHARS:
                self.show_notice(too_long_text(len(text)))
                return
            view_id, token = thread.current_id, self.token
            if (text.strip(), view_id) != (self._sent_text, self._sent_for) or not self._sent_key:
                self._sent_text, self._sent_for, self._sent_key = text.strip(), view_id, key or uuid.uuid4().hex
            key = self._sent_key
            follow_id = self._begin(view_id)
            self.draft = ""
            thread.messages = [*[m for m in thread.messages if not m.pending], pending_message(text)]
        try:
            caller = token_caller(token)
            user_id = caller.user_id
            begun = await turns.begin_turn(
                app_parts(), user_id=user_id, message=text,
                conversation_id=parse_conversation_id(view_id), idempotency_key=key, token_version=caller.token_version,
            )
        except (SessionEnded, InvalidAuth):
            async with self:
                ended = self._sign_out(SESSION_EXPIRED)
            yield ended
            return
        except ServiceError as error:
            async with self:
                if follow_id == self._follow_id:
                    self._end_live()
                    # Sending the same text again (same Idempotency-Key) can succeed.
                    self.show_notice(error.message, resend=error.retryable)
            return
        except Exception:
            async with self:
                if follow_id == self._follow_id:
                    self._end_live()
                    self.show_notice(SOMETHING_WENT_WRONG, resend=True)
            raise
        events = turns.turn_events(app_parts(), begun, user_id=user_id)
        async for update in self._follow(events, follow_id=follow_id, user_id=user_id, view_id=view_id, sent=True):
            yield update

    async def _answer_again(self, *, regenerate: bool, edit: tuple[str, str] | None = None) -> AsyncIterator[Any]:
        """Retry, regenerate, or (`edit`: message id and new text) edit
        and resend."""
        message_id = parse_conversation_id(edit[0]) if edit else None
        async with self:
            thread = await self.get_state(ThreadState)
            conversation_id = parse_conversation_id(thread.current_id)
            if self.phase or conversation_id is None or (edit and message_id is None):
                return
            view_id, token = thread.current_id, self.token
            follow_id = self._begin(view_id)
        try:
            caller = token_caller(token)
            user_id = caller.user_id
            if edit is not None and message_id is not None:
                begun = await turns.begin_edit(
                    app_parts(), user_id=user_id, conversation_id=conversation_id,
                    message_id=message_id, content=edit[1], token_version=caller.token_version,
                )
            else:
                begun = await turns.begin_answer(
                    app_parts(), user_id=user_id, conversation_id=conversation_id,
                    regenerate=regenerate, token_version=caller.token_version,
                )
        except (SessionEnded, InvalidAuth):
            async with self:
                ended = self._sign_out(SESSION_EXPIRED)
            yield ended
            return
        except ServiceError as error:  # e.g. a Conflict: the service decides
            async with self:
                if follow_id == self._follow_id:
                    self._end_live()
            yield rx.toast.error(error.message)
            return
        events = turns.turn_events(app_parts(), begun, user_id=user_id)
        async for update in self._follow(events, follow_id=follow_id, user_id=user_id, view_id=view_id):
            yield update

    async def _follow(
        self, events: AsyncIterator[TurnEvent], *, follow_id: str, user_id: uuid.UUID, view_id: str, sent: bool = False
    ) -> AsyncIterator[Any]:
        """Apply a turn's events to the page, one short lock each; at its
        end re-read the page, which now shows the stored answer. Stops
        following (the turn goes on) as soon as the page moved on."""
        live = LiveReply()
        final: TurnDone | TurnFailed | None = None
        shown_id, answer_id, redirected = view_id, "", False
        lost: ServiceError | None = None  # the events stopped coming (the bus or the database failed)
        try:
            async with contextlib.aclosing(events):  # type: ignore[type-var]
                async for event in events:
                    if isinstance(event, UserMessageStored):
                        shown_id, answer_id = event.conversation_id, event.answer_id
                        async with self:
                            if follow_id != self._follow_id:
                                return
                            redirect = await self._show_started(event, view_id=view_id, sent=sent)
                        if redirect is not None:
                            redirected = True
                            yield redirect
                    elif isinstance(event, (TurnDone, TurnFailed)):
                        final = event
                        break
                    elif live.add(event):
                        # A finished tool call may have changed the list: the
                        # tasks panel follows at once, read from the database.
                        tasks = await self._read_tasks(user_id) if isinstance(event, ToolFinished) else None
                        async with self:
                            if follow_id != self._follow_id:
                                return
                            self._show_live(live)
                            if tasks is not None:
                                (await self.get_state(TasksState)).tasks = tasks
        except ServiceError as error:
            lost = error
        except Exception:  # the page must not stay "live" forever; the turn itself goes on
            logger.exception("following a turn failed")
            lost = ServiceError(SOMETHING_WENT_WRONG)
        if isinstance(final, TurnDone):
            shown_id = str(final.result.get("conversation_id") or shown_id)
        elif isinstance(final, TurnFailed) and final.error.conversation_id:
            shown_id = str(final.error.conversation_id)
        failure = final.error if isinstance(final, TurnFailed) else lost
        data: PageData | None = None
        try:
            data = await in_thread(read_page, app_parts(), user_id=user_id, conversation_id=shown_id)
        except ServiceError as error:
            failure = failure or error
        async with self:
            if follow_id != self._follow_id:
                return
            self._follow_id = ""
            self._end_live()
            thread = await self.get_state(ThreadState)
            if data is not None:
                await thread.show_page(data, shown_id)
            last = thread.messages[-1] if thread.messages else None
            shown_failed = last is not None and last.status == "failed" and last.id == (answer_id or last.id)
            if failure is not None and not shown_failed:
                self.show_notice(failure.message)
            redirect = None
            if data is not None and data.thread is not None and shown_id != view_id and not redirected:
                # A new chat's turn known only by its end (a resend of a
                # stored message): the page goes to its URL now.
                redirect = rx.redirect(f"/chat/{shown_id}", replace=True)
        if redirect is not None:
            yield redirect

    async def _show_started(self, event: UserMessageStored, *, view_id: str, sent: bool) -> EventSpec | None:
        """The turn's user message is stored and its answer in progress: the
        thread shows the stored message; a new chat gets its URL (and its
        sidebar row) now, while the reply streams."""
        thread = await self.get_state(ThreadState)
        self.live_answer = event.answer_id
        self.live_for = event.conversation_id
        if self.phase == "starting":
            self.phase = "live"
        if sent:
            self._sent_text = self._sent_for = self._sent_key = ""  # stored: the next send is a new message
        thread.show_started(message_view(event.message), event.answer_id)
        if event.conversation_id == view_id:
            return None
        thread.current_id = event.conversation_id
        (await self.get_state(SidebarState)).current_id = event.conversation_id
        self._redirected = event.conversation_id
        return rx.redirect(f"/chat/{event.conversation_id}", replace=True)

    def _show_live(self, live: LiveReply) -> None:
        if live.text_changed:
            self.live_text = tidy_partial(live.text)
        if live.calls_changed:
            self.live_calls = list(live.calls)
        live.flushed()

    @staticmethod
    async def _read_tasks(user_id: uuid.UUID) -> list[Any] | None:
        try:
            return await in_thread(read_tasks, app_parts().engine, user_id=user_id)
        except ServiceError:
            return None  # the end of the turn re-reads everything anyway
