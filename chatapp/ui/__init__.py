"""The Reflex web UI: pages, components and the view-only state behind them.

Everything here calls the service layer (chatapp.services) directly; nothing
is kept in memory that the database does not also hold.
"""
