"""The MCP task server."""
