"""A deterministic, network-free stand-in for an LLM.

Without an API key the app still has to behave like a real assistant: the
agent runner must see genuine tool calls (so the MCP tools really run and the
turn is recorded like any other) and the reply must be written from what the
tools returned, not from what the model guessed.

- `grammar`: one user message to an `Intent` (new phrasings go here);
- `items`: the model input as plain dicts, and this turn's finished calls;
- `references`: which task "it" or a title means;
- `planner`: the next step, a `PlannedCall` or a `Reply`;
- `replies`: every text the model says;
- `stream`: the Responses events for one output item;
- `model`: `OfflineModel`, the SDK `Model` tying them together.

Production code never imports this package except to select the model.
"""

from chatapp.agent.offline.grammar import parse_intent
from chatapp.agent.offline.model import OfflineModel
from chatapp.agent.offline.replies import HELP_TEXT

__all__ = ["HELP_TEXT", "OfflineModel", "parse_intent"]
