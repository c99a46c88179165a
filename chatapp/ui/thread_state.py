"""The thread: the conversation the page shows, as stored.

On load of /chat or /chat/<id> the page is re-read through the service
layer; if a turn is in progress there, the page attaches to it
(TurnState.follow_running) so a reload or a second tab shows the reply as
it streams. Each stored answer shows its own lifecycle: complete, stopped,
or failed with its error and a Retry.
"""

from __future__ import annotations

import uuid
from typing import Any

import reflex as rx

from chatapp.services import turns
from chatapp.services.database import in_thread
from chatapp.services.errors import NotFound, ServiceError
from chatapp.ui.reads import PageData, Thread, parse_conversation_id, read_back_to, read_page, read_thread
from chatapp.ui.sidebar_state import SidebarState, TasksState
from chatapp.ui.state import AuthState
from chatapp.ui.views import MessageView
from chatapp.ui.parts import app_parts

NOT_FOUND_TEXT = "Conversation not found."


def conversation_in_path(path: str) -> str:
    """`/chat/<id>` → "<id>"; `/chat` → "" (a new chat)."""
    parts = [part for part in str(path).split("?")[0].split("/") if part]
    return parts[1] if len(parts) >= 2 and parts[0] == "chat" else ""


def scroll_to_message_js(seq: int) -> str:
    """Unpin the thread from the bottom and bring message `seq` to the
    middle, once it is rendered (tried for at most 5 s), and again after
    late layout (Markdown, timestamps) has settled."""
    return f"""(() => {{
  let tries = 0;
  const reveal = (again) => {{
    const el = document.getElementById("message-{int(seq)}");
    if (!el) {{ if (++tries < 50) setTimeout(() => reveal(again), 100); return; }}
    if (window.__threadScroll) window.__threadScroll.pinned = false;
    el.scrollIntoView({{block: "center"}});
    if (again) setTimeout(() => reveal(false), 400);
  }};
  reveal(true);
}})()"""


class ThreadState(AuthState):
    """The messages of the conversation shown. The answer being streamed is
    not among them: the live bubble (TurnState) stands in for it until the
    turn ends and the thread is re-read."""

    current_id: str = ""  # "" is a new chat
    title: str = ""
    messages: list[MessageView] = []
    has_older: bool = False
    not_found: bool = False
    loaded: bool = False
    loading_older: bool = False
    # A search hit being opened: its message is read into the thread,
    # scrolled to and highlighted (SearchState.open_hit sets these).
    focus_conversation: str = ""
    focus_seq: int = 0
    focus_id: str = ""
    focus_pending: bool = False  # not yet read into the thread and scrolled to

    @rx.var
    def is_empty(self) -> bool:
        return self.loaded and not self.not_found and not self.messages

    @rx.var
    def last_answer(self) -> str:
        """The id of the thread's last message when it is a finished answer
        (Regenerate and Retry are offered on it, and only on it)."""
        if not self.messages:
            return ""
        last = self.messages[-1]
        return last.id if last.role == "assistant" and last.status != "in_progress" else ""

    @rx.var
    def last_user_message(self) -> str:
        """The id of the last message the person sent: the one they may
        edit and resend (the service refuses any other)."""
        for message in reversed(self.messages):
            if message.role == "user" and not message.pending:
                return message.id
        return ""

    @rx.var
    def unanswered(self) -> bool:
        """The thread ends with a stored user message and no answer at all
        (written before answers were stored with their message)."""
        return bool(self.messages) and self.messages[-1].role == "user" and not self.messages[-1].pending

    async def show_page(self, data: PageData, route_id: str, *, live_answer: str = "") -> None:
        """Replace everything the page shows with a fresh read; `live_answer`
        is left out of the thread while the live bubble stands in for it."""
        shown = data.thread.conversation_id if data.thread else route_id
        self.current_id = shown
        self.email = data.email
        self.not_found = data.not_found
        if data.thread is not None:
            self.title = data.thread.title
            self.messages = [message for message in data.thread.messages if message.id != live_answer]
            self.has_older = data.thread.has_older
        else:
            self.title = NOT_FOUND_TEXT if data.not_found else "New chat"
            self.messages = []
            self.has_older = False
        self.loaded = True
        sidebar = await self.get_state(SidebarState)
        sidebar.conversations, sidebar.current_id = data.conversations, shown
        tasks = await self.get_state(TasksState)
        tasks.tasks = data.tasks
        tasks.show_changes(data.task_events)

    def show_started(self, user_message: MessageView, answer_id: str) -> None:
        """A turn has started: its stored user message replaces the
        optimistic copy, and its answer (a retried or regenerated one is
        rewritten in place, as is an edited message's) leaves the list for
        the live bubble."""
        kept = [user_message if m.id == user_message.id else m  # an edited message shows its new text
                for m in self.messages if not m.pending and m.id != answer_id]
        if all(m.id != user_message.id for m in kept):
            kept.append(user_message)
        self.messages = kept

    @rx.event
    async def load_page(self) -> Any:
        """on_load of /chat and /chat/[conversation_id]: read the page, and
        attach to the turn in progress there, if any."""
        from chatapp.ui.turn_state import TurnState

        (await self.get_state(SidebarState)).close_all()
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            self.loaded = True
            return stop
        route_id = conversation_in_path(self.router.url.path)
        turn = await self.get_state(TurnState)
        lost = turn.lost_redirect(route_id)
        if lost:
            return rx.redirect(f"/chat/{lost}", replace=True)
        keep = turn.keeps_following(route_id)
        parts = app_parts()
        running: uuid.UUID | None = None
        try:
            # Ask before reading, so a turn that ends in between is read as stored.
            parsed = parse_conversation_id(route_id)
            if parsed is not None:
                try:
                    running = await turns.running_turn(parts, user_id=user_id, conversation_id=parsed)
                except NotFound:
                    running = None
            data = await in_thread(read_page, parts, user_id=user_id, conversation_id=route_id)
            if self.focus_pending and data.thread is not None and self.focus_conversation == data.thread.conversation_id:
                data.thread = await in_thread(
                    read_back_to, parts, user_id=user_id, thread=data.thread, seq=self.focus_seq
                )
        except ServiceError as error:
            # Show nothing rather than the previous page under this URL.
            self.current_id, self.title, self.messages, self.has_older = route_id, "", [], False
            self.loaded = True
            turn.leave_page()
            turn.show_notice(error.message)
            return rx.toast.error(error.message)
        if keep:  # this tab's own turn: its sender goes on following it
            await self.show_page(data, route_id, live_answer=turn.live_answer)
            return self._take_focus()
        live_answer = str(running) if running else ""
        await self.show_page(data, route_id, live_answer=live_answer)
        following, focus = turn.page_loaded(self.current_id, live_answer), self._take_focus()
        if focus is None:
            return following
        return [following, focus] if following is not None else focus

    def _take_focus(self) -> Any:
        """After a read: scroll to the hit being opened if it is in this
        thread (once; it stays highlighted); on any other page, forget it."""
        if self.focus_conversation != self.current_id:
            self.focus_conversation, self.focus_seq, self.focus_id, self.focus_pending = "", 0, "", False
            return None
        if not self.focus_pending:
            return None
        self.focus_pending = False
        return rx.call_script(scroll_to_message_js(self.focus_seq))

    @rx.event
    async def reveal_focus(self) -> Any:
        """A hit in the conversation already shown: read older pages until
        it is in the thread, then scroll to it."""
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            return stop
        if self.messages and self.messages[0].seq > self.focus_seq and self.has_older:
            current = Thread(self.current_id, self.title, self.messages, self.has_older)
            try:
                extended = await in_thread(read_back_to, app_parts(), user_id=user_id, thread=current, seq=self.focus_seq)
            except ServiceError as error:
                return rx.toast.error(error.message)
            if extended.conversation_id != self.current_id:
                return None
            self.messages, self.has_older = extended.messages, extended.has_older
        return self._take_focus()

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
                read_thread, app_parts(), user_id=user_id, conversation_id=conversation_id, before_seq=anchor
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
