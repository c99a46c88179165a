"""Relative times ("5 minutes ago") that stay current while the page is
open, with the exact time on hover."""

from __future__ import annotations

import reflex as rx

EXACT_TIME = "dddd, D MMMM YYYY, HH:mm:ss"
# react-moment re-renders every relative time on one pooled timer; moment's
# wording changes at most once a minute, so twice a minute keeps it current.
REFRESH_MS = 30_000


def relative_time(value: rx.Var[str], **props: object) -> rx.Component:
    props.setdefault("class_name", "timestamp")
    return rx.moment(value, from_now=True, with_title=True, title_format=EXACT_TIME, interval=REFRESH_MS, **props)
