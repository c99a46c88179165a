"""A shortcut through the Agents SDK's agent-identity map, for graphs whose
agents all have distinct names.

On every run the SDK (0.24) names each agent of the graph with a "stable
identity", so that a paused run can be resumed by another process: the
sandbox session manager does it once per run, and the tool-use tracker after
every model step. Agents that share a name are told apart by sorting them on
a signature: a JSON text of the agent's whole configuration (model settings,
every tool, instructions). The SDK builds that signature even for a name that
only one agent has, where sorting a group of one never compares anything: about
0.16 ms per call here, three or more calls per turn, which profiled at 9% of a
served plain turn's CPU.

`install` wraps the SDK's builder: a graph with distinct names gets the map
the SDK would build, {name: agent} in the SDK's own breadth-first order,
without signatures; any other graph goes to the SDK's function unchanged. The
builder is private, so `install` fails loudly if a new SDK release renames
it, and tests/test_sdk_identity.py compares both paths on the real agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents import _run_state_agent_identity as identity
from agents import run_state
from agents.run_internal import tool_use_tracker

IdentityMap = Callable[[Any], dict[str, Any]]
# Every module that looks the builder up by name at call time. The keys-by-id
# helper lives in `identity` itself, so patching it there covers that too.
_CALLERS = (identity, tool_use_tracker, run_state)


def sdk_identity_map() -> IdentityMap:
    """The SDK's own builder, whether or not `install` has run."""
    builder = identity._build_agent_identity_map
    return getattr(builder, "sdk_builder", builder)


def distinct_names_map(sdk_builder: IdentityMap) -> IdentityMap:
    def build_agent_identity_map(initial_agent: Any) -> dict[str, Any]:
        agents = list(identity._iter_agent_graph(initial_agent))
        by_name = {agent.name: agent for agent in agents}
        if len(by_name) < len(agents):
            return sdk_builder(initial_agent)
        return by_name

    build_agent_identity_map.sdk_builder = sdk_builder  # type: ignore[attr-defined]
    return build_agent_identity_map


def install() -> None:
    """Idempotent: installing twice wraps the SDK's builder once."""
    sdk_builder = sdk_identity_map()
    for module in _CALLERS:
        if not hasattr(module, "_build_agent_identity_map"):
            raise RuntimeError(f"{module.__name__} no longer has _build_agent_identity_map; re-check sdk_identity")
    shortcut = distinct_names_map(sdk_builder)
    for module in _CALLERS:
        module._build_agent_identity_map = shortcut  # type: ignore[attr-defined]
