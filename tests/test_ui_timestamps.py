"""Relative times ("5 minutes ago"): what the page asks the browser to
render, read from the compiled component, without a browser."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.components.timestamps import relative_time

STORED_AT = "2025-01-01T00:00:00.000Z"


def rendered(**props: object) -> str:
    return str(relative_time(rx.Var.create(STORED_AT), **props))


def test_a_time_reads_relative_to_now() -> None:
    assert "fromNow:true" in rendered()


def test_a_relative_time_stays_current_by_refreshing_twice_a_minute() -> None:
    assert "interval:30000" in rendered()


def test_hovering_a_relative_time_shows_the_exact_time() -> None:
    page = rendered()
    assert "withTitle:true" in page and 'titleFormat:"dddd, D MMMM YYYY, HH:mm:ss"' in page


def test_a_relative_time_is_styled_as_a_timestamp_unless_told_otherwise() -> None:
    assert 'className:"timestamp"' in rendered()
    assert 'className:"edited-at"' in rendered(class_name="edited-at")
