"""Scroll behaviour of the thread, in the browser where it belongs:

- pinned to the newest message while the reader is at the bottom (also when
  late layout — Markdown, timestamps — makes the content taller), left alone
  when they scrolled up to read;
- scrolling near the top presses "Load older messages" (throttled), and the
  message that was on top stays where it was while older ones are prepended.

Installed once per page load by the chat page's on_mount.
"""

from __future__ import annotations

THREAD_SCROLL_JS = """
if (!window.__threadScroll) {
  const s = window.__threadScroll = {pinned: true, observed: null, anchor: null, lastOlder: 0};
  const thread = () => document.getElementById("thread");
  const keep = () => {
    const t = thread();
    if (!t) return;
    if (s.anchor) {
      const el = document.getElementById(s.anchor.id);
      if (el) t.scrollTop += (el.getBoundingClientRect().top - t.getBoundingClientRect().top) - s.anchor.top;
    } else if (s.pinned) {
      t.scrollTop = t.scrollHeight;
    }
  };
  const resized = new ResizeObserver(keep);
  const attach = () => {
    const inner = document.getElementById("thread-inner");
    if (!inner || inner === s.observed) return;
    if (s.observed) resized.unobserve(s.observed);
    resized.observe(inner);
    s.observed = inner;
    s.pinned = true;
    s.anchor = null;
    keep();
  };
  new MutationObserver(attach).observe(document.body, {childList: true, subtree: true});
  attach();
  const loadOlder = () => {
    const button = document.getElementById("load-older");
    const now = Date.now();
    if (!button || button.disabled || now - s.lastOlder < 1500) return;
    s.lastOlder = now;
    button.click();
  };
  document.addEventListener("click", (event) => {
    if (!event.target.closest || !event.target.closest("#load-older")) return;
    const t = thread();
    const first = t && t.querySelector("[data-role]");
    if (!first) return;
    s.anchor = {id: first.id, top: first.getBoundingClientRect().top - t.getBoundingClientRect().top};
    setTimeout(() => { s.anchor = null; }, 2000);
  }, true);
  document.addEventListener("scroll", (event) => {
    const t = event.target;
    if (!t || t.id !== "thread") return;
    s.pinned = t.scrollHeight - t.scrollTop - t.clientHeight < 80;
    if (t.scrollTop < 80 && !s.anchor) loadOlder();
  }, true);
}
"""
