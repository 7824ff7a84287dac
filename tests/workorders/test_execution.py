"""Running a work order's executor: outcomes, bounded retries on transient errors only, polls, idempotent claims.

These unit tests fake one seam: the executor of a test action (installed with `installed_executor`). The real
executors (enroll, revoke) are exercised in tests/enrollment with the built-in CA.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from tests.workorders.helpers import approved_order, installed_executor
from workorders.choices import WorkOrderState
from workorders.executors import ExecutionError, ExecutionPending, TransientExecutionError, executor_for
from workorders.models import WorkOrder
from workorders.services import MAX_TRANSIENT_RETRIES, workorder_execute, workorder_implement
from workorders.tasks import workorder_execute_task

S = WorkOrderState


@pytest.fixture
def running(requester: Any, approver: Any, approver_b: Any, implementer: Any) -> WorkOrder:
    """An order just implemented (in_progress, attempt 1 to run); the Celery message itself is not sent."""
    order = approved_order(requester, [approver, approver_b])
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async"):
        return workorder_implement(work_order_id=order.pk, user=implementer)


def test_enroll_and_revoke_have_executors_installed() -> None:
    assert executor_for("enroll") is not None and executor_for("revoke") is not None


def test_a_successful_run_completes_the_order_with_its_result(running: WorkOrder, requester: Any) -> None:
    with installed_executor(lambda order: {"done": order.work_order_id}):
        outcome = workorder_execute(work_order_id=running.pk, attempt=1)
    running.refresh_from_db()
    assert outcome.status == "completed"
    assert (running.state, running.result, running.attempts) == (S.COMPLETED, {"done": running.work_order_id}, 1)
    assert running.events.last().actor_name == "system"
    assert requester.notifications.filter(work_order=running, message__contains="completed").exists()


def test_an_action_without_executor_fails_the_order_with_a_clear_message(running: WorkOrder) -> None:
    with installed_executor(lambda order: {}, action="push"):
        outcome = workorder_execute(work_order_id=running.pk, attempt=1)
    running.refresh_from_db()
    assert outcome.status == "failed"
    assert "No executor is installed for 'Rollback'" in running.error


def test_a_permanent_error_fails_the_order_and_tells_the_implementers(running: WorkOrder, implementer: Any) -> None:
    def refuse(order: WorkOrder) -> dict[str, Any]:
        raise ExecutionError("the CA refused the CSR: key too small")

    with installed_executor(refuse):
        assert workorder_execute(work_order_id=running.pk, attempt=1).status == "failed"
    running.refresh_from_db()
    assert running.state == S.FAILED and running.error == "the CA refused the CSR: key too small"
    assert implementer.notifications.filter(work_order=running, message__contains="failed").exists()


def test_an_unexpected_exception_fails_the_order_rather_than_leaving_it_in_progress(running: WorkOrder) -> None:
    def broken(order: WorkOrder) -> dict[str, Any]:
        raise KeyError("params")

    with installed_executor(broken):
        assert workorder_execute(work_order_id=running.pk, attempt=1).status == "failed"
    running.refresh_from_db()
    assert running.state == S.FAILED and "KeyError" in running.error


def test_a_transient_error_asks_for_a_retry_and_stays_in_progress(running: WorkOrder) -> None:
    def busy(order: WorkOrder) -> dict[str, Any]:
        raise TransientExecutionError("CA unreachable")

    with installed_executor(busy):
        outcome = workorder_execute(work_order_id=running.pk, attempt=1)
    running.refresh_from_db()
    assert (outcome.status, outcome.countdown) == ("retry", 5)
    assert running.state == S.IN_PROGRESS and "retrying: CA unreachable" in running.error


def test_the_task_retries_transient_errors_then_succeeds(running: WorkOrder) -> None:
    calls: list[int] = []

    def flaky(order: WorkOrder) -> dict[str, Any]:
        calls.append(order.attempts)
        if len(calls) < 3:
            raise TransientExecutionError("timeout")
        return {"ok": True}

    with installed_executor(flaky):
        workorder_execute_task.apply(args=[running.pk, 1])
    running.refresh_from_db()
    assert calls == [1, 2, 3]
    assert (running.state, running.attempts, running.error) == (S.COMPLETED, 3, "")


def test_the_task_gives_up_after_a_bounded_number_of_transient_errors(running: WorkOrder) -> None:
    calls: list[int] = []

    def down(order: WorkOrder) -> dict[str, Any]:
        calls.append(order.attempts)
        raise TransientExecutionError("connection refused")

    with installed_executor(down):
        workorder_execute_task.apply(args=[running.pk, 1])
    running.refresh_from_db()
    assert len(calls) == MAX_TRANSIENT_RETRIES + 1
    assert running.state == S.FAILED
    assert f"gave up after {MAX_TRANSIENT_RETRIES + 1} attempts" in running.error


def test_a_permanent_error_is_not_retried(running: WorkOrder) -> None:
    calls: list[int] = []

    def refuse(order: WorkOrder) -> dict[str, Any]:
        calls.append(order.attempts)
        raise ExecutionError("denied")

    with installed_executor(refuse):
        workorder_execute_task.apply(args=[running.pk, 1])
    assert calls == [1]


def test_a_pending_result_is_polled_again_until_it_completes(running: WorkOrder) -> None:
    def held(order: WorkOrder) -> dict[str, Any]:
        if order.attempts == 1:
            raise ExecutionPending("the CA holds the request for approval", retry_in=30)
        return {"issued": True}

    with installed_executor(held):
        outcome = workorder_execute(work_order_id=running.pk, attempt=1)
        running.refresh_from_db()
        assert (outcome.status, outcome.countdown) == ("pending", 30)
        assert running.state == S.IN_PROGRESS and running.result == {"pending": "the CA holds the request for approval"}
        with mock.patch("workorders.tasks.workorder_execute_task.apply_async") as again:
            workorder_execute_task.apply(args=[running.pk, 1 + 0])
        # attempt 1 was claimed already: that duplicate message did nothing and scheduled nothing
        again.assert_not_called()
        assert workorder_execute(work_order_id=running.pk, attempt=2).status == "completed"


def test_the_task_schedules_the_next_poll_of_a_pending_order(running: WorkOrder) -> None:
    def held(order: WorkOrder) -> dict[str, Any]:
        raise ExecutionPending("waiting", retry_in=45)

    with installed_executor(held), mock.patch("workorders.tasks.workorder_execute_task.apply_async") as again:
        assert workorder_execute_task.apply(args=[running.pk, 1]).get() == "pending"
    again.assert_called_once_with(args=[running.pk, 2], countdown=45)


def test_a_duplicate_delivery_runs_the_executor_once(running: WorkOrder) -> None:
    runs: list[int] = []
    with installed_executor(lambda order: runs.append(order.pk) or {}):
        first = workorder_execute(work_order_id=running.pk, attempt=1)
        second = workorder_execute(work_order_id=running.pk, attempt=1)
    assert (first.status, second.status, runs) == ("completed", "skipped", [running.pk])


def test_a_redelivery_after_a_lost_worker_runs_the_same_attempt_again(running: WorkOrder) -> None:
    # The first worker claimed attempt 1 and died before finishing: the order is still in progress.
    WorkOrder.objects.filter(pk=running.pk).update(attempts=1)
    with installed_executor(lambda order: {"again": True}):
        assert workorder_execute(work_order_id=running.pk, attempt=1).status == "skipped"
        assert workorder_execute(work_order_id=running.pk, attempt=1, redelivered=True).status == "completed"


def test_an_order_not_in_progress_is_left_alone(requester: Any, approver: Any, approver_b: Any) -> None:
    order = approved_order(requester, [approver, approver_b])
    runs: list[int] = []
    with installed_executor(lambda o: runs.append(o.pk) or {}):
        assert workorder_execute(work_order_id=order.pk, attempt=1).status == "skipped"
    order.refresh_from_db()
    assert order.state == S.APPROVED and runs == []


def test_an_executor_can_send_its_runs_to_another_queue(
    requester: Any, approver: Any, approver_b: Any, implementer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from workorders import executors

    order = approved_order(requester, [approver, approver_b])
    executors._queues["rollback"] = lambda o: f"gw.site-{o.pk}"
    try:
        with (
            mock.patch("workorders.tasks.workorder_execute_task.apply_async") as send,
            django_capture_on_commit_callbacks(execute=True),
        ):
            workorder_implement(work_order_id=order.pk, user=implementer)
    finally:
        executors._queues.pop("rollback", None)
    send.assert_called_once_with(args=[order.pk, 1], queue=f"gw.site-{order.pk}")
