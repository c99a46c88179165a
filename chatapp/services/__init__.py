"""The stateless service layer: every route and event handler calls these."""
