"""The sidebar and the tasks panel: the conversation list (rename, delete),
the user's tasks, and which panel is slid in on a phone. Filled by the page
read (ThreadState.show_page); rename and delete call the service layer."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventSpec

from chatapp.services import conversations as conversation_service
from chatapp.services.database import in_thread
from chatapp.services.errors import ServiceError
from chatapp.ui.reads import parse_conversation_id, read_sidebar, read_task_events
from chatapp.ui.state import HOME_ROUTE, AuthState
from chatapp.ui.views import ConversationView, TaskEventView, TaskView
from chatapp.ui.parts import app_parts


class TasksState(AuthState):
    """The tasks panel: re-read with the page, and after each tool result.
    Below the tasks, their history from the tool-call audit trail: the
    recent changes, or one task's whole history (a deleted task's too)."""

    tasks: list[TaskView] = []
    recent_changes: list[TaskEventView] = []
    history_task: int = 0  # the task whose history is open; 0: none
    history: list[TaskEventView] = []

    @rx.var
    def history_title(self) -> str:
        current = next((task.title for task in self.tasks if task.task_id == self.history_task), "")
        if not current:  # deleted: its last known title
            current = next((event.title for event in self.history if event.title), "")
        return f"Task #{self.history_task}" + (f": {current}" if current else "")

    def show_changes(self, recent: list[TaskEventView]) -> None:
        """After a page read: the recent changes, and an open history gains
        the changes the last turn made (they are among the recent ones)."""
        self.recent_changes = recent
        if self.history_task:
            known = {event.id for event in self.history}
            fresh = [event for event in recent if event.task_id == self.history_task and event.id not in known]
            self.history = fresh + self.history

    @rx.event
    async def open_history(self, task_id: int) -> Any:
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            return stop
        try:
            self.history = await in_thread(read_task_events, app_parts().engine, user_id=user_id, task_id=int(task_id))
        except ServiceError as error:
            return rx.toast.error(error.message)
        self.history_task = int(task_id)
        return None

    @rx.event
    def close_history(self) -> None:
        self.history_task = 0
        self.history = []

    @rx.var
    def pending_tasks(self) -> list[TaskView]:
        return [task for task in self.tasks if not task.completed]

    @rx.var
    def completed_tasks(self) -> list[TaskView]:
        return [task for task in self.tasks if task.completed]


class SidebarState(AuthState):
    """The conversation list and the phone layout's slide-in panels."""

    conversations: list[ConversationView] = []
    current_id: str = ""  # the conversation the page shows, highlighted
    renaming_id: str = ""
    rename_draft: str = ""
    delete_id: str = ""
    sidebar_open: bool = False
    tasks_open: bool = False

    @rx.var
    def delete_title(self) -> str:
        return next((row.title for row in self.conversations if row.id == self.delete_id), "")

    def close_all(self) -> None:
        self.renaming_id = ""
        self.delete_id = ""
        self.sidebar_open = False
        self.tasks_open = False

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
    async def sign_out(self) -> EventSpec:
        """Sign out this browser (the token stays valid elsewhere until it
        expires; "Sign out everywhere" revokes them all)."""
        return await self.forget_session()

    async def forget_session(self, notice: str = "") -> EventSpec:
        """Forget the page too, so the next person to sign in on this
        browser never glimpses it; `notice` tells the sign-in page why."""
        from chatapp.ui.thread_state import ThreadState
        from chatapp.ui.turn_state import TurnState

        for state in (await self.get_state(ThreadState), await self.get_state(TurnState),
                      await self.get_state(TasksState), self):
            state.reset()
        signed_out = self._sign_out()
        self.notice = notice
        return signed_out

    # ---------------------------------------------------------------- rename

    @rx.event
    def start_rename(self, conversation_id: str, title: str) -> None:
        self.renaming_id = conversation_id
        self.rename_draft = title

    @rx.event
    def cancel_rename(self) -> None:
        self.renaming_id = ""

    @rx.event
    def rename_key(self, key: str) -> None:
        if key == "Escape":
            self.renaming_id = ""

    @rx.event
    async def save_rename(self, form_data: dict[str, Any] | None = None) -> Any:
        from chatapp.ui.thread_state import ThreadState

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
                conversation_service.rename_conversation, app_parts().engine, user_id=user_id, conversation_id=target, title=title
            )
            self.conversations = await in_thread(read_sidebar, app_parts().engine, user_id=user_id)
        except ServiceError as error:
            return rx.toast.error(error.message)
        thread = await self.get_state(ThreadState)
        if str(renamed.id) == thread.current_id:
            thread.title = renamed.title
        return None

    # ---------------------------------------------------------------- delete

    @rx.event
    def ask_delete(self, conversation_id: str) -> None:
        self.delete_id = conversation_id

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
            await in_thread(conversation_service.delete_conversation, app_parts().engine, user_id=user_id, conversation_id=target)
            self.conversations = await in_thread(read_sidebar, app_parts().engine, user_id=user_id)
        except ServiceError as error:
            return rx.toast.error(error.message)
        if str(target) == self.current_id:
            return rx.redirect(HOME_ROUTE, replace=True)
        return None
