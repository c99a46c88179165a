"""How stored messages and tool calls are shown: the pure view functions
the chat page renders from, tested without a browser or a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatapp.ui.views import (
    SUMMARY_CHARS, message_view, pending_message, result_failed, summarize_parameters, task_event_label, tidy_partial,
    tool_call_view,
)


def test_tool_call_view_summarizes_and_pretty_prints() -> None:
    view = tool_call_view(
        {"id": "1", "tool_name": "add_task", "parameters": {"title": "Buy groceries"}, "result": {"status": "created", "task_id": 1}}
    )
    assert view.summary == "title: Buy groceries"
    assert '"task_id": 1' in view.result_json and not view.failed
    failed = tool_call_view({"tool_name": "complete_task", "parameters": {"task_id": 9}, "result": {"status": "error"}})
    assert failed.failed and failed.summary == "task_id: 9"
    assert len(summarize_parameters({"title": "x" * 500})) <= 80


def test_message_view_keeps_order_fields_and_pending_copy() -> None:
    view = message_view(
        {"id": "m", "seq": 3, "role": "assistant", "content": "Done", "status": "complete",
         "created_at": "2025-01-01T00:00:00.000Z", "tool_calls": []}
    )
    assert (view.seq, view.role, view.content, view.pending) == (3, "assistant", "Done", False)
    optimistic = pending_message("  hello  ")
    assert optimistic.pending and optimistic.content == "hello" and optimistic.created_at.endswith("Z")
    assert view.status == "complete"
    stopped = message_view({"id": "m", "seq": 4, "role": "assistant", "content": "Hi! I", "status": "stopped",
                            "created_at": "2025-01-01T00:00:00.000Z", "tool_calls": []})
    assert stopped.status == "stopped"
    cut = message_view({"id": "m", "seq": 5, "role": "assistant", "content": "You have 2 tasks:\n- [ ] 1. Milk\n- [ ",
                        "status": "stopped", "created_at": "2025-01-01T00:00:00.000Z", "tool_calls": []})
    assert cut.content == "You have 2 tasks:\n- [ ] 1. Milk"  # no empty bullet at the cut
    assert tidy_partial("Hi! I can ") == "Hi! I can" and tidy_partial("a\n- [ ] 2.") == "a"
    assert tidy_partial("a\n- [ ] 2. Bread") == "a\n- [ ] 2. Bread" and tidy_partial("a\n- 2024") == "a\n- 2024"


def test_failed_answer_view_says_why() -> None:
    failed = message_view({"id": "m", "seq": 2, "role": "assistant", "content": "", "status": "failed",
                           "error_code": "timeout", "created_at": "2025-01-01T00:00:00.000Z", "tool_calls": []})
    assert failed.status == "failed" and "did not answer in time" in failed.error
    interrupted = message_view({"id": "m", "seq": 2, "role": "assistant", "content": "Hi", "status": "failed",
                                "error_code": "interrupted", "created_at": "2025-01-01T00:00:00.000Z", "tool_calls": []})
    assert "interrupted" in interrupted.error and interrupted.content == "Hi"
    complete = message_view({"id": "m", "seq": 2, "role": "assistant", "content": "Hi", "status": "complete",
                             "created_at": "2025-01-01T00:00:00.000Z", "tool_calls": []})
    assert complete.error == ""


def test_a_summary_lists_each_parameter_as_key_and_value() -> None:
    assert summarize_parameters({"task_id": 3, "title": "Buy oat milk"}) == "task_id: 3, title: Buy oat milk"


def test_a_summary_shows_values_that_are_not_text_as_json() -> None:
    assert summarize_parameters({"completed": True, "tags": ["home"]}) == 'completed: true, tags: ["home"]'


def test_a_long_summary_is_cut_to_one_line_ending_in_an_ellipsis() -> None:
    summary = summarize_parameters({"title": "word " * 100})
    assert len(summary) == SUMMARY_CHARS and summary.endswith("…") and "\n" not in summary


def test_a_tool_result_failed_when_its_status_is_error_or_it_names_an_error() -> None:
    assert result_failed({"status": "error"})
    assert result_failed({"error": "not_found"})
    assert not result_failed({"status": "completed", "task_id": 1})
    assert not result_failed("a text result")


def test_a_reply_cut_mid_word_keeps_its_words_without_trailing_space() -> None:
    assert tidy_partial("Hi! I can ") == "Hi! I can"


def test_a_reply_cut_after_a_bullet_drops_the_empty_item() -> None:
    assert tidy_partial("Your tasks:\n- ") == "Your tasks:"
    assert tidy_partial("Your tasks:\n- [ ] 1. Milk\n- [ ") == "Your tasks:\n- [ ] 1. Milk"
    assert tidy_partial("Steps:\n1.") == "Steps:"


def test_a_list_item_with_words_is_kept() -> None:
    assert tidy_partial("Your tasks:\n- [ ] 2. Bread") == "Your tasks:\n- [ ] 2. Bread"


def test_a_line_that_only_looks_like_a_list_item_is_kept() -> None:
    assert tidy_partial("Born in\n- 2024") == "Born in\n- 2024"


def test_the_optimistic_copy_of_a_sent_message_is_pending_trimmed_and_stamped_now() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    copy = pending_message("  Buy milk \n")
    assert (copy.role, copy.content, copy.pending) == ("user", "Buy milk", True)
    assert copy.created_at.endswith("Z")
    assert datetime.fromisoformat(copy.created_at.replace("Z", "+00:00")) >= before


def test_a_renamed_task_reads_renamed_and_an_edited_one_edited() -> None:
    assert task_event_label("update_task", {"task_id": 1, "title": "Oat milk"}, {"status": "updated"}) == ("Renamed", False)
    assert task_event_label("update_task", {"task_id": 1, "description": "2 l"}, {"status": "updated"}) == ("Edited", False)


def test_created_completed_and_deleted_tasks_read_as_such() -> None:
    labels = [task_event_label(tool, {"task_id": 1}, {"status": status})[0]
              for tool, status in (("add_task", "created"), ("complete_task", "completed"), ("delete_task", "deleted"))]
    assert labels == ["Created", "Completed", "Deleted"]


def test_a_failed_change_says_what_could_not_be_done_and_why() -> None:
    assert task_event_label("complete_task", {"task_id": 9}, {"status": "error", "error": "not_found"}) == (
        "Could not complete: not found", True)


def test_a_failed_change_without_a_reason_says_it_failed() -> None:
    assert task_event_label("delete_task", {"task_id": 9}, None) == ("Could not delete: failed", True)
