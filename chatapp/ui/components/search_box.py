"""Search in the sidebar: a box (Ctrl/Cmd+K focuses it, Escape clears it)
and, while it holds a query, the hits in place of the conversation list:
conversation title, who said it, and the snippet with the matches marked.
A click opens the conversation at that message."""

from __future__ import annotations

import reflex as rx

from chatapp.ui.search_state import SearchState
from chatapp.ui.views import SearchHitView, SnippetPartView

# Installed once per page load by the chat page's on_mount.
SEARCH_SHORTCUT_JS = """
if (!window.__searchShortcut) {
  window.__searchShortcut = true;
  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) return;
    if (event.key !== "k" && event.key !== "K") return;
    const input = document.getElementById("search-input");
    if (!input) return;
    event.preventDefault();
    input.focus();
    input.select();
  });
}
"""


def snippet_part(part: rx.Var[SnippetPartView]) -> rx.Component:
    return rx.cond(part.match, rx.el.mark(part.text, class_name="search-match"), rx.text.span(part.text))


def search_hit(hit: rx.Var[SearchHitView]) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.text(hit.conversation_title, class_name="search-hit-title", title=hit.conversation_title),
            rx.text(rx.cond(hit.role == "user", "You", "Assistant"), class_name="search-hit-role"),
            justify="between",
            align="center",
            spacing="2",
        ),
        rx.text(rx.foreach(hit.snippet, snippet_part), class_name="search-hit-snippet"),
        on_click=SearchState.open_hit(hit.conversation_id, hit.seq, hit.message_id),
        class_name="search-hit",
        role="button",
        tab_index=0,
        custom_attrs={"data-message-id": hit.message_id, "data-seq": hit.seq},
    )


def search_box() -> rx.Component:
    return rx.box(
        rx.input(
            rx.input.slot(rx.icon("search", size=14)),
            rx.cond(
                SearchState.query != "",
                rx.input.slot(
                    rx.icon_button(rx.icon("x", size=12), size="1", variant="ghost", color_scheme="gray",
                                   on_click=SearchState.clear, id="search-clear", aria_label="Clear search"),
                ),
            ),
            value=SearchState.query,
            on_change=SearchState.set_query,
            debounce_timeout=250,
            on_key_down=SearchState.search_key,
            placeholder="Search chats (Ctrl+K)",
            id="search-input",
            size="2",
            max_length=500,
            aria_label="Search your conversations",
        ),
        class_name="search-box",
    )


def search_results() -> rx.Component:
    return rx.box(
        rx.text("Results", class_name="section-label"),
        rx.foreach(SearchState.hits, search_hit),
        rx.cond(
            (SearchState.searched != "") & (SearchState.hits.length() == 0),
            rx.text("No messages match.", size="2", color_scheme="gray", class_name="sidebar-empty", id="search-empty"),
        ),
        rx.cond(SearchState.error != "", rx.text(SearchState.error, size="2", color_scheme="red")),
        rx.cond(
            SearchState.has_more,
            rx.button("More results", on_click=SearchState.more_results, variant="ghost", size="1", id="search-more"),
        ),
        class_name="conversation-list search-results",
        id="search-results",
    )

