"""Concurrent clicks against PostgreSQL: the conditional UPDATE lets exactly one of them move the order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.db import connection, connections

from tests.fixtures.users import api_client_for, make_user
from tests.workorders.helpers import approved_order, new_order
from workorders.choices import WorkOrderState
from workorders.models import WorkOrder, WorkOrderApproval, WorkOrderEvent
from workorders.services import workorder_submit

pytestmark = pytest.mark.integration
S = WorkOrderState


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together by a barrier; each thread has its own database connection."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # collected and asserted by the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def approve_call(user: Any, order: WorkOrder, expected: str | None) -> Callable[[], int]:
    def call() -> int:
        body = {"comment": f"approved by {user.username}"}
        if expected:
            body["expected_state"] = expected
        return api_client_for(user).post(f"/api/v1/work-orders/{order.pk}/approve/", body, format="json").status_code

    return call


def test_two_approvers_clicking_together_make_one_transition(transactional_db: Any) -> None:
    assert connection.vendor == "postgresql"
    requester = make_user("race-requester", "requester")
    first, second = make_user("race-approver-a", "approver"), make_user("race-approver-b", "approver")
    for _ in range(5):  # several rounds: the outcome must never depend on the interleaving
        order = new_order(requester)
        workorder_submit(work_order_id=order.pk, user=requester)
        codes = race([approve_call(first, order, S.SUBMITTED), approve_call(second, order, S.SUBMITTED)])
        assert sorted(codes) == [200, 409], codes
        order.refresh_from_db()
        assert order.state == S.APPROVED_L1
        assert WorkOrderEvent.objects.filter(work_order=order, to_state=S.APPROVED_L1).count() == 1
        assert WorkOrderApproval.objects.filter(work_order=order).count() == 1


def test_one_approver_clicking_many_times_gives_one_approval(transactional_db: Any) -> None:
    requester = make_user("race-requester", "requester")
    approver = make_user("race-approver-a", "approver")
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    codes = race([approve_call(approver, order, None) for _ in range(6)])
    assert codes.count(200) == 1, codes
    assert set(codes) <= {200, 403, 409}, codes
    order.refresh_from_db()
    assert order.state == S.APPROVED_L1
    assert list(order.approvals.values_list("approver__username", flat=True)) == [approver.username]


def test_two_implement_clicks_queue_one_execution(transactional_db: Any) -> None:
    requester = make_user("race-requester", "requester")
    approvers = [make_user("race-approver-a", "approver"), make_user("race-approver-b", "approver")]
    implementers = [make_user("race-impl-a", "implementer"), make_user("race-impl-b", "implementer")]
    order = approved_order(requester, approvers)

    def implement(user: Any) -> Callable[[], int]:
        return lambda: (
            api_client_for(user)
            .post(f"/api/v1/work-orders/{order.pk}/implement/", {"comment": "now"}, format="json")
            .status_code
        )

    with mock.patch("workorders.tasks.workorder_execute_task.apply_async") as send:
        codes = race([implement(u) for u in implementers])
    assert sorted(codes) == [200, 409], codes
    send.assert_called_once_with(args=[order.pk, 1])
    assert WorkOrderEvent.objects.filter(work_order=order, to_state=S.IN_PROGRESS).count() == 1
