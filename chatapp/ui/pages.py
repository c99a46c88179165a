"""The routes. /login and /signup are public; every other page checks the
token in its on_load (and every handler checks it again)."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.sidebar_state import SidebarState
from chatapp.ui.thread_state import ThreadState
from chatapp.ui.components.auth_forms import auth_card
from chatapp.ui.components.composer import ESCAPE_STOPS_JS, composer
from chatapp.ui.components.header import header
from chatapp.ui.components.sidebar import sidebar
from chatapp.ui.components.tasks_panel import tasks_panel
from chatapp.ui.components.thread import thread
from chatapp.ui.components.search_box import SEARCH_SHORTCUT_JS
from chatapp.ui.components.thread_scroll import THREAD_SCROLL_JS
from chatapp.ui.state import HOME_ROUTE, LOGIN_ROUTE, SIGNUP_ROUTE, AuthState

STYLESHEETS = ["/chat.css"]
TITLE = "chatapp"


def login_page() -> rx.Component:
    return auth_card("login")


def signup_page() -> rx.Component:
    return auth_card("signup")


def scrim() -> rx.Component:
    """Dims the thread behind a slid-in panel on narrow screens; a tap closes it."""
    return rx.box(
        class_name=rx.cond(SidebarState.sidebar_open | SidebarState.tasks_open, "scrim open", "scrim"),
        on_click=SidebarState.close_panels,
    )


def chat_page() -> rx.Component:
    return rx.box(
        sidebar(),
        rx.box(header(), thread(), composer(), class_name="main"),
        tasks_panel(),
        scrim(),
        class_name="app-shell",
        id="chat-page",
        on_mount=[rx.call_script(THREAD_SCROLL_JS), rx.call_script(SEARCH_SHORTCUT_JS),
                  rx.call_script(ESCAPE_STOPS_JS)],
    )


def index_page() -> rx.Component:
    return rx.center(rx.spinner(size="3"), height="100dvh", id="home")


def register_pages(app: rx.App) -> None:
    app.add_page(login_page, route=LOGIN_ROUTE, title=f"Sign in · {TITLE}", on_load=AuthState.open_auth_page)
    app.add_page(signup_page, route=SIGNUP_ROUTE, title=f"Sign up · {TITLE}", on_load=AuthState.open_auth_page)
    # One route for /chat (a new chat) and /chat/<id>, so the page stays
    # mounted when a new chat gets its id: the composer is never re-created.
    app.add_page(chat_page, route=f"{HOME_ROUTE}/[[conversation_id]]", title=TITLE, on_load=ThreadState.load_page)
    app.add_page(index_page, route="/", title=TITLE, on_load=AuthState.go_home)
