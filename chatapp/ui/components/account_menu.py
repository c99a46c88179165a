"""The account menu in the sidebar's footer: sign out (this browser), sign
out everywhere, change password, export, delete account. Changing the
password and deleting the account each ask for the current password in a
dialog of their own."""

from __future__ import annotations

import reflex as rx

from chatapp.services.auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from chatapp.ui.account_state import AccountState
from chatapp.ui.sidebar_state import SidebarState


def account_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(
                rx.icon("settings", size=14), size="1", variant="ghost", color_scheme="gray",
                id="account-menu", aria_label="Account", title="Account",
            ),
        ),
        rx.menu.content(
            rx.menu.item(rx.icon("log-out", size=14), "Sign out", on_click=SidebarState.sign_out, id="menu-sign-out"),
            rx.menu.item(rx.icon("shield-off", size=14), "Sign out everywhere",
                         on_click=AccountState.sign_out_everywhere, id="menu-sign-out-everywhere"),
            rx.menu.separator(),
            rx.menu.item(rx.icon("key-round", size=14), "Change password…",
                         on_click=AccountState.open_dialog("password"), id="menu-change-password"),
            rx.menu.item(rx.icon("download", size=14), "Export my data",
                         on_click=AccountState.export_data, id="menu-export"),
            rx.menu.separator(),
            rx.menu.item(rx.icon("trash-2", size=14), "Delete account…", color="red",
                         on_click=AccountState.open_dialog("delete"), id="menu-delete-account"),
            size="2",
        ),
        # Not modal: a dialog opened from an item gets the pointer back.
        modal=False,
    )


def password_field(label: str, name: str, autocomplete: str, *, new: bool = False) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium", as_="label", html_for=f"{name}-input"),
        rx.input(
            name=name, type="password", id=f"{name}-input", auto_complete=autocomplete, required=True,
            min_length=MIN_PASSWORD_LENGTH if new else None, max_length=MAX_PASSWORD_LENGTH, width="100%",
        ),
        spacing="1",
        width="100%",
    )


def account_error() -> rx.Component:
    return rx.cond(
        AccountState.account_error != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-alert", size=16)),
            rx.callout.text(AccountState.account_error),
            color_scheme="red", size="1", id="account-error", role="alert", width="100%",
        ),
    )


def dialog_buttons(label: str, color: str, button_id: str) -> rx.Component:
    return rx.hstack(
        rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
        rx.button(label, type="submit", color_scheme=color, loading=AccountState.account_busy, id=button_id),
        spacing="3",
        justify="end",
        width="100%",
    )


def password_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Change password"),
            rx.dialog.description("Other devices will be signed out; this browser stays signed in.", size="2"),
            rx.form(
                rx.vstack(
                    password_field("Current password", "current_password", "current-password"),
                    password_field("New password", "new_password", "new-password", new=True),
                    rx.text(f"At least {MIN_PASSWORD_LENGTH} characters, mixing letters with digits, capitals or symbols.",
                            size="1", color_scheme="gray"),
                    account_error(),
                    dialog_buttons("Change password", "indigo", "confirm-change-password"),
                    spacing="3",
                    margin_top="12px",
                ),
                on_submit=AccountState.change_password,
                reset_on_submit=False,
                id="change-password-form",
            ),
            max_width="420px",
        ),
        open=AccountState.dialog == "password",
        on_open_change=AccountState.dialog_changed,
    )


def delete_account_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Delete your account?"),
            rx.dialog.description(
                "Your conversations, messages, tool calls and tasks will be deleted for good, and every device "
                "signed out. Export your data first if you want to keep it. Enter your password to confirm.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    password_field("Password", "password", "current-password"),
                    account_error(),
                    dialog_buttons("Delete account", "red", "confirm-delete-account"),
                    spacing="3",
                    margin_top="12px",
                ),
                on_submit=AccountState.delete_account,
                reset_on_submit=False,
                id="delete-account-form",
            ),
            max_width="420px",
        ),
        open=AccountState.dialog == "delete",
        on_open_change=AccountState.dialog_changed,
    )
