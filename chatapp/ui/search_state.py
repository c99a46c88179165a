"""The sidebar's search box: results as you type, and opening one.

Opening a hit goes to its conversation with the message as the thread's
focus (ThreadState.focus_*): older pages are read until it is among them,
then the browser scrolls to it, and it stays highlighted."""

from __future__ import annotations

from typing import Any

import reflex as rx

from chatapp.services import search
from chatapp.services.database import in_thread
from chatapp.services.errors import InvalidInput, ServiceError
from chatapp.ui.state import AuthState
from chatapp.ui.views import SearchHitView, search_hit_view
from chatapp.ui.parts import app_parts

RESULTS_PAGE = 20


class SearchState(AuthState):
    query: str = ""
    hits: list[SearchHitView] = []
    has_more: bool = False
    searched: str = ""  # the query the hits answer ("" when none)
    error: str = ""

    async def _run(self, offset: int) -> Any:
        user_id, stop = await self._user_or_sign_out()
        if user_id is None:
            return stop
        try:
            hits, more = await in_thread(
                search.search_messages, app_parts().engine, user_id=user_id, query=self.query, limit=RESULTS_PAGE, offset=offset
            )
        except InvalidInput as error:
            self.error = error.message
            return None
        except ServiceError as error:
            return rx.toast.error(error.message)
        views = [search_hit_view(hit) for hit in hits]
        self.hits = self.hits + views if offset else views
        self.has_more, self.searched, self.error = more, self.query, ""
        return None

    @rx.event
    async def set_query(self, value: str) -> Any:
        self.query = value
        if not value.strip():
            self.hits, self.has_more, self.searched, self.error = [], False, "", ""
            return None
        return await self._run(0)

    @rx.event
    async def more_results(self) -> Any:
        if self.searched:
            return await self._run(len(self.hits))
        return None

    @rx.event
    def clear(self) -> None:
        self.query, self.hits, self.has_more, self.searched, self.error = "", [], False, "", ""

    @rx.event
    def search_key(self, key: str) -> None:
        if key == "Escape":
            self.clear()

    @rx.event
    async def open_hit(self, conversation_id: str, seq: int, message_id: str) -> Any:
        from chatapp.ui.sidebar_state import SidebarState
        from chatapp.ui.thread_state import ThreadState

        thread = await self.get_state(ThreadState)
        thread.focus_conversation, thread.focus_seq, thread.focus_id = conversation_id, int(seq), message_id
        thread.focus_pending = True
        (await self.get_state(SidebarState)).close_all()
        if thread.current_id == conversation_id and thread.loaded:
            return ThreadState.reveal_focus
        return rx.redirect(f"/chat/{conversation_id}")
