"""A tool call as a compact card under its assistant message: the tool's
name and a one-line summary of its parameters, expandable (a native
<details>, so it needs no state) to the full parameters and result. While a
reply streams, a card appears when its call starts ("running") and gets its
result and status when the call finishes."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.views import ToolCallView


def json_block(label: str, text: rx.Var[str]) -> rx.Component:
    return rx.box(
        rx.text(label, class_name="tool-label"),
        rx.el.pre(text, class_name="tool-json"),
    )


def status_badge(call: rx.Var[ToolCallView]) -> rx.Component:
    return rx.cond(
        call.pending,
        rx.badge(rx.spinner(size="1"), "running", color_scheme="gray", variant="soft", size="1", class_name="tool-running"),
        rx.cond(
            call.failed,
            rx.badge("error", color_scheme="red", variant="soft", size="1"),
            rx.badge("ok", color_scheme="green", variant="soft", size="1"),
        ),
    )


def tool_card(call: rx.Var[ToolCallView]) -> rx.Component:
    return rx.el.details(
        rx.el.summary(
            rx.icon("wrench", size=13, class_name="tool-icon"),
            rx.text(call.tool_name, class_name="tool-name"),
            rx.text(call.summary, class_name="tool-summary"),
            status_badge(call),
            rx.cond(call.imported, rx.badge("imported", color_scheme="blue", variant="soft", size="1",
                                            class_name="tool-imported", title="Recorded in an imported conversation")),
            rx.icon("chevron-right", size=14, class_name="tool-chevron"),
            class_name="tool-head",
        ),
        rx.box(
            json_block("Parameters", call.parameters_json),
            json_block("Result", rx.cond(call.pending, "…", call.result_json)),
            class_name="tool-body",
        ),
        class_name="tool-card",
        custom_attrs={"data-tool": call.tool_name, "data-pending": rx.cond(call.pending, "true", "false"),
                      "data-imported": rx.cond(call.imported, "true", "false")},
    )
