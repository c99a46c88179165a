"""The search box and the conversation list: newest first, the open one highlighted, with
inline rename and delete-with-confirmation. On a phone it slides in over
the thread (the CSS in assets/chat.css collapses it)."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.state import AuthState
from chatapp.ui.sidebar_state import SidebarState
from chatapp.ui.thread_state import ThreadState
from chatapp.ui.components.account_menu import account_menu, delete_account_dialog, password_dialog
from chatapp.ui.transfer_state import IMPORT_UPLOAD_ID, TransferState
from chatapp.ui.components.auth_forms import brand
from chatapp.ui.components.search_box import search_box, search_results
from chatapp.ui.search_state import SearchState
from chatapp.ui.views import ConversationView


def rename_form(conversation: rx.Var[ConversationView]) -> rx.Component:
    """Enter saves, Escape or ✕ cancels."""
    return rx.form(
        rx.hstack(
            rx.input(
                name="title",
                default_value=conversation.title,
                auto_focus=True,
                id="rename-input",
                size="2",
                max_length=200,
                on_key_down=SidebarState.rename_key,
                flex="1",
                min_width="0",
            ),
            rx.icon_button(rx.icon("check", size=14), type="submit", size="1", variant="soft", id="rename-save", aria_label="Save title"),
            rx.icon_button(
                rx.icon("x", size=14),
                type="button",
                size="1",
                variant="ghost",
                color_scheme="gray",
                on_click=SidebarState.cancel_rename,
                aria_label="Cancel rename",
            ),
            spacing="1",
            align="center",
            width="100%",
        ),
        on_submit=SidebarState.save_rename,
        reset_on_submit=False,
        class_name="rename-form",
    )


def row_actions(conversation: rx.Var[ConversationView]) -> rx.Component:
    return rx.hstack(
        rx.icon_button(
            rx.icon("pencil", size=13),
            size="1",
            variant="ghost",
            color_scheme="gray",
            on_click=SidebarState.start_rename(conversation.id, conversation.title),
            class_name="rename-button",
            aria_label="Rename conversation",
            title="Rename",
        ),
        rx.icon_button(
            rx.icon("trash-2", size=13),
            size="1",
            variant="ghost",
            color_scheme="red",
            on_click=SidebarState.ask_delete(conversation.id),
            class_name="delete-button",
            aria_label="Delete conversation",
            title="Delete",
        ),
        spacing="1",
        class_name="conversation-actions",
    )


def conversation_row(conversation: rx.Var[ConversationView]) -> rx.Component:
    return rx.cond(
        SidebarState.renaming_id == conversation.id,
        rename_form(conversation),
        rx.box(
            rx.link(
                rx.text(conversation.title, class_name="conversation-title", title=conversation.title),
                href=f"/chat/{conversation.id}",
                class_name="conversation-link",
                underline="none",
            ),
            row_actions(conversation),
            class_name=rx.cond(SidebarState.current_id == conversation.id, "conversation-row active", "conversation-row"),
            custom_attrs={"data-conversation-id": conversation.id},
        ),
    )


def conversation_list() -> rx.Component:
    return rx.box(
        rx.text("Conversations", class_name="section-label"),
        rx.foreach(SidebarState.conversations, conversation_row),
        rx.cond(
            ThreadState.loaded & (SidebarState.conversations.length() == 0),
            rx.text("No conversations yet. Say hi!", size="2", color_scheme="gray", class_name="sidebar-empty"),
        ),
        class_name="conversation-list",
        id="conversation-list",
    )


def account_footer() -> rx.Component:
    return rx.hstack(
        rx.box(rx.icon("user", size=14), class_name="account-avatar"),
        rx.text(AuthState.email, class_name="account-email", id="account-email", title=AuthState.email),
        rx.color_mode.button(size="1", variant="ghost", color_scheme="gray", id="theme-toggle", aria_label="Toggle dark mode"),
        rx.icon_button(
            rx.icon("log-out", size=14),
            size="1",
            variant="ghost",
            color_scheme="gray",
            on_click=SidebarState.sign_out,
            id="sign-out",
            aria_label="Sign out",
            title="Sign out",
        ),
        account_menu(),
        align="center",
        spacing="2",
        class_name="account-footer",
    )


def delete_dialog() -> rx.Component:
    """One dialog for the whole list, open while a delete awaits a yes."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete this conversation?"),
            rx.alert_dialog.description(
                rx.text("“", SidebarState.delete_title, "” and all of its messages will be deleted. This cannot be undone."),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray", id="cancel-delete")),
                rx.alert_dialog.action(
                    rx.button("Delete", color_scheme="red", on_click=SidebarState.confirm_delete, id="confirm-delete")
                ),
                spacing="3",
                justify="end",
                margin_top="16px",
            ),
            max_width="420px",
        ),
        open=SidebarState.delete_id != "",
        on_open_change=SidebarState.delete_dialog_changed,
    )


def import_button() -> rx.Component:
    """Picking a file imports it at once (a JSON export of a conversation)."""
    return rx.upload.root(
        rx.button(rx.icon("upload", size=14), "Import", variant="ghost", color_scheme="gray", size="2",
                  id="import-button", title="Import a conversation exported as JSON", type="button"),
        id=IMPORT_UPLOAD_ID,
        accept={"application/json": [".json"]},
        max_files=1,
        multiple=False,
        no_drag=True,
        on_drop=TransferState.import_file(rx.upload_files(upload_id=IMPORT_UPLOAD_ID)),
        class_name="import-upload",
    )


def sidebar() -> rx.Component:
    return rx.box(
        rx.hstack(
            brand(),
            rx.icon_button(
                rx.icon("x", size=16),
                variant="ghost",
                color_scheme="gray",
                on_click=SidebarState.close_panels,
                class_name="only-narrow",
                aria_label="Close menu",
            ),
            justify="between",
            align="center",
            class_name="sidebar-top",
        ),
        rx.button(
            rx.icon("square-pen", size=16),
            "New chat",
            on_click=SidebarState.new_chat,
            id="new-chat",
            variant="soft",
            class_name="new-chat",
        ),
        import_button(),
        search_box(),
        rx.cond(SearchState.query == "", conversation_list(), search_results()),
        account_footer(),
        delete_dialog(),
        password_dialog(),
        delete_account_dialog(),
        class_name=rx.cond(SidebarState.sidebar_open, "sidebar open", "sidebar"),
        id="sidebar",
    )
