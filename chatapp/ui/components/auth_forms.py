"""The sign-in and sign-up cards. Errors from the service layer (wrong
password, email taken, weak password) show inline, under the fields."""

from __future__ import annotations

from typing import Literal

import reflex as rx

from chatapp.services.auth import MIN_PASSWORD_LENGTH
from chatapp.ui.state import LOGIN_ROUTE, SIGNUP_ROUTE, AuthState

Mode = Literal["login", "signup"]


def brand() -> rx.Component:
    return rx.hstack(
        rx.box(rx.icon("list-todo", size=18), class_name="brand-mark"),
        rx.text("chatapp", class_name="brand-name"),
        align="center",
        spacing="2",
    )


def field(label: str, name: str, kind: str, placeholder: str, autocomplete: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", html_for=f"{name}-input", size="2", weight="medium"),
        rx.input(
            id=f"{name}-input",
            name=name,
            type=kind,
            placeholder=placeholder,
            auto_complete=autocomplete,
            required=True,
            size="3",
            width="100%",
        ),
        spacing="1",
        width="100%",
    )


def form_error() -> rx.Component:
    return rx.cond(
        AuthState.form_error != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-alert", size=16)),
            rx.callout.text(AuthState.form_error),
            color_scheme="red",
            size="1",
            id="auth-error",
            role="alert",
            width="100%",
        ),
    )


def session_notice() -> rx.Component:
    return rx.cond(
        AuthState.notice != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("info", size=16)),
            rx.callout.text(AuthState.notice),
            size="1",
            id="auth-notice",
            width="100%",
        ),
    )


def password_hint() -> rx.Component:
    return rx.text(
        f"At least {MIN_PASSWORD_LENGTH} characters, mixing letters with digits, capitals or symbols.",
        size="1",
        color_scheme="gray",
    )


def switch_link(mode: Mode) -> rx.Component:
    if mode == "login":
        return rx.text("New here? ", rx.link("Create an account", href=SIGNUP_ROUTE, id="to-signup"), size="2")
    return rx.text("Already have an account? ", rx.link("Sign in", href=LOGIN_ROUTE, id="to-login"), size="2")


def auth_card(mode: Mode) -> rx.Component:
    """One card for both forms: same fields, different handler and words."""
    signup = mode == "signup"
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    brand(),
                    rx.heading("Create your account" if signup else "Welcome back", size="6"),
                    rx.text(
                        "Manage your to-do list by chatting." if signup else "Sign in to continue your conversations.",
                        color_scheme="gray",
                        size="2",
                    ),
                    session_notice(),
                    field("Email", "email", "email", "you@example.com", "email"),
                    field(
                        "Password",
                        "password",
                        "password",
                        f"At least {MIN_PASSWORD_LENGTH} characters" if signup else "Your password",
                        "new-password" if signup else "current-password",
                    ),
                    password_hint() if signup else rx.fragment(),
                    form_error(),
                    rx.button(
                        "Create account" if signup else "Sign in",
                        type="submit",
                        size="3",
                        width="100%",
                        loading=AuthState.busy,
                        id="auth-submit",
                    ),
                    switch_link(mode),
                    spacing="4",
                    width="100%",
                ),
                on_submit=AuthState.sign_up if signup else AuthState.log_in,
                reset_on_submit=False,
                id=f"{mode}-form",
            ),
            size="4",
            class_name="auth-card",
        ),
        class_name="auth-page",
    )
