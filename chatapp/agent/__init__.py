"""Agents SDK wiring: the assistant, its model, and its MCP task tools."""
