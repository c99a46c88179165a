"""The reply being streamed, between a turn's events and the page.

`LiveReply` lives in the background handler that runs the turn (never in
Reflex state, never across turns): it collects text deltas and tool-call
events and says when the page should be updated. Text deltas are pushed at
most every `FLUSH_SECONDS`, so a fast model does not turn every token into a
state update over the socket; tool events are pushed at once. When the turn
ends the page forgets all of this and re-reads what the database stored.
"""

from __future__ import annotations

import dataclasses
import time

from chatapp.services.turn_events import TurnEvent
from chatapp.ui.views import ToolCallView, finished_tool_call, started_tool_call

# How often streamed text reaches the page: reads as typing, costs at most
# ~20 small state updates a second.
FLUSH_SECONDS = 0.05


@dataclasses.dataclass
class LiveReply:
    text: str = ""
    calls: list[ToolCallView] = dataclasses.field(default_factory=list)
    text_changed: bool = False
    calls_changed: bool = False
    last_flush: float = 0.0

    def add(self, event: TurnEvent) -> bool:
        """Take one streamed event; True when the page should show it now."""
        if event.name == "text_delta":
            self.text += str(event.data.get("delta", ""))
            self.text_changed = True
            return time.monotonic() - self.last_flush >= FLUSH_SECONDS
        if event.name == "tool_call":
            self.calls.append(started_tool_call(event.data))
            self.calls_changed = True
            return True
        if event.name == "tool_result":
            call_id = str(event.data.get("call_id", ""))
            self.calls = [
                finished_tool_call(call, event.data) if call.id == call_id and call.pending else call
                for call in self.calls
            ]
            self.calls_changed = True
            return True
        return False

    def flushed(self) -> None:
        self.text_changed = self.calls_changed = False
        self.last_flush = time.monotonic()

