"""The work-order state machine: the transition table, approvals and separation of duties, events and audit."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from clm.api.errors import ApplicationError, Conflict
from clm.models import AuditEvent
from tests.workorders.helpers import approved_order, new_order
from workorders.choices import TRANSITIONS, VERB_SOURCES, WorkOrderState
from workorders.models import WorkOrder, WorkOrderApproval, WorkOrderEvent
from workorders.services import (
    WorkOrderForbidden,
    workorder_approve,
    workorder_cancel,
    workorder_implement,
    workorder_reject,
    workorder_retry,
    workorder_submit,
)

S = WorkOrderState


def states(order: WorkOrder) -> list[tuple[str, str, str]]:
    return [(e.from_state, e.to_state, e.actor_name) for e in order.events.all()]


def test_no_verb_starts_from_a_terminal_state() -> None:
    for verb, sources in VERB_SOURCES.items():
        for source in sources:
            assert TRANSITIONS[source], f"{verb} starts from terminal state {source}"


def test_the_terminal_states_lead_nowhere() -> None:
    assert TRANSITIONS[S.COMPLETED] == TRANSITIONS[S.REJECTED] == TRANSITIONS[S.CANCELLED] == ()


def test_it_generates_request_and_work_order_ids(requester: Any) -> None:
    first, second = new_order(requester), new_order(requester)
    assert first.request_id == f"REQ-{first.pk:06d}" and first.work_order_id == f"WO-{first.pk:06d}"
    assert second.work_order_id != first.work_order_id
    assert states(first) == [("", S.DRAFT, requester.username)]


def test_two_levels_need_two_different_approvers(requester: Any, approver: Any, approver_b: Any) -> None:
    order = new_order(requester, levels=2)
    workorder_submit(work_order_id=order.pk, user=requester, comment="please")
    assert workorder_approve(work_order_id=order.pk, user=approver, comment="L1 ok").state == S.APPROVED_L1
    assert workorder_approve(work_order_id=order.pk, user=approver_b, comment="L2 ok").state == S.APPROVED
    assert states(order) == [
        ("", S.DRAFT, requester.username),
        (S.DRAFT, S.SUBMITTED, requester.username),
        (S.SUBMITTED, S.APPROVED_L1, approver.username),
        (S.APPROVED_L1, S.APPROVED, approver_b.username),
    ]
    assert list(order.approvals.values_list("level", "approver__username", "comment")) == [
        (1, approver.username, "L1 ok"),
        (2, approver_b.username, "L2 ok"),
    ]


def test_one_level_is_approved_by_one_approval(requester: Any, approver: Any) -> None:
    order = new_order(requester, levels=1)
    workorder_submit(work_order_id=order.pk, user=requester)
    assert workorder_approve(work_order_id=order.pk, user=approver).state == S.APPROVED


def test_zero_levels_go_straight_to_approved_after_submit(requester: Any, implementer: Any) -> None:
    order = new_order(requester, levels=0)
    order = workorder_submit(work_order_id=order.pk, user=requester, comment="no approval needed")
    assert order.state == S.APPROVED
    assert states(order)[1:] == [(S.DRAFT, S.SUBMITTED, requester.username), (S.SUBMITTED, S.APPROVED, "system")]
    assert implementer.notifications.filter(work_order=order).exists()


def test_a_group_without_policy_needs_two_levels(requester: Any) -> None:
    from certificates.models import CertificateGroup
    from workorders.services import workorder_create

    group = CertificateGroup.objects.create(name="no policy")
    order = workorder_create(action="rollback", requester=requester, summary="x", group=group)
    assert order.approval_levels == 2


def test_the_requester_cannot_approve_their_own_order(requester: Any) -> None:
    from tests.fixtures.users import make_user

    requester = make_user(requester.username, "requester", "approver")  # holds both roles
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    with pytest.raises(WorkOrderForbidden, match="requester cannot approve"):
        workorder_approve(work_order_id=order.pk, user=requester)
    order.refresh_from_db()
    assert order.state == S.SUBMITTED and not order.approvals.exists()


def test_one_approver_cannot_give_both_approvals(requester: Any, approver: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    workorder_approve(work_order_id=order.pk, user=approver)
    with pytest.raises(WorkOrderForbidden, match="different approver"):
        workorder_approve(work_order_id=order.pk, user=approver)
    order.refresh_from_db()
    assert order.state == S.APPROVED_L1 and order.approvals.count() == 1


def test_the_database_refuses_a_second_approval_by_the_same_person(requester: Any, approver: Any) -> None:
    from django.db import IntegrityError, transaction

    order = new_order(requester)
    WorkOrderApproval.objects.create(work_order=order, level=1, approver=approver)
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkOrderApproval.objects.create(work_order=order, level=2, approver=approver)


def test_a_role_without_the_verb_is_refused(requester: Any, implementer: Any, auditor: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    for user in (implementer, auditor):
        with pytest.raises(WorkOrderForbidden):
            workorder_approve(work_order_id=order.pk, user=user)
    with pytest.raises(WorkOrderForbidden):
        workorder_submit(work_order_id=new_order(requester).pk, user=auditor)


def test_only_its_requester_submits_an_order(requester: Any) -> None:
    from tests.fixtures.users import make_user

    other = make_user("other-requester", "requester")
    order = new_order(requester)
    with pytest.raises(WorkOrderForbidden, match="Only the requester"):
        workorder_submit(work_order_id=order.pk, user=other)


def test_a_verb_from_the_wrong_state_is_a_conflict(requester: Any, approver: Any, implementer: Any) -> None:
    order = new_order(requester)
    with pytest.raises(Conflict):
        workorder_approve(work_order_id=order.pk, user=approver)
    with pytest.raises(Conflict):
        workorder_implement(work_order_id=order.pk, user=implementer)
    order.refresh_from_db()
    assert order.state == S.DRAFT and order.events.count() == 1


def test_a_stale_expected_state_is_a_conflict(requester: Any, approver: Any, approver_b: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    workorder_approve(work_order_id=order.pk, user=approver, expected_state=S.SUBMITTED)
    with pytest.raises(Conflict, match="someone else acted"):
        workorder_approve(work_order_id=order.pk, user=approver_b, expected_state=S.SUBMITTED)
    order.refresh_from_db()
    assert order.state == S.APPROVED_L1


def test_reject_needs_a_reason_and_tells_the_requester(requester: Any, approver: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    with pytest.raises(ApplicationError) as refused:
        workorder_reject(work_order_id=order.pk, user=approver, comment="  ")
    assert "comment" in refused.value.errors
    order = workorder_reject(work_order_id=order.pk, user=approver, comment="wrong SAN")
    assert order.state == S.REJECTED and order.finished_at is not None
    assert requester.notifications.filter(work_order=order, message__contains="wrong SAN").exists()


def test_the_requester_can_cancel_an_approved_order_but_not_another_requester(
    requester: Any, approver: Any, approver_b: Any
) -> None:
    from tests.fixtures.users import make_user

    order = approved_order(requester, [approver, approver_b])
    with pytest.raises(WorkOrderForbidden):
        workorder_cancel(work_order_id=order.pk, user=make_user("someone-else", "requester"))
    assert workorder_cancel(work_order_id=order.pk, user=requester, comment="not needed").state == S.CANCELLED
    with pytest.raises(Conflict):
        workorder_submit(work_order_id=order.pk, user=requester)


def test_every_transition_writes_an_event_and_an_audit_event_with_the_tracking_id(
    requester: Any, approver: Any, approver_b: Any
) -> None:
    order = new_order(requester, tracking_id="CHG-4711")
    workorder_submit(work_order_id=order.pk, user=requester)
    workorder_approve(work_order_id=order.pk, user=approver)
    workorder_approve(work_order_id=order.pk, user=approver_b)
    audits = AuditEvent.objects.filter(object_type="workorders.workorder", object_id=str(order.pk)).order_by("id")
    assert [a.action for a in audits] == [
        "workorder.create",
        "workorder.submit",
        "workorder.approve",
        "workorder.approve",
    ]
    assert {a.tracking_id for a in audits} == {"CHG-4711"}
    assert [a.actor_name for a in audits][1:] == [requester.username, approver.username, approver_b.username]
    assert WorkOrderEvent.objects.filter(work_order=order).count() == 4


def test_implement_now_queues_the_execution_only_after_commit(
    requester: Any, approver: Any, approver_b: Any, implementer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    order = approved_order(requester, [approver, approver_b])
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async") as send:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            workorder_implement(work_order_id=order.pk, user=implementer, comment="go")
        send.assert_not_called()
        for callback in callbacks:
            callback()
    send.assert_called_once_with(args=[order.pk, 1])
    order.refresh_from_db()
    assert order.state == S.IN_PROGRESS and order.started_at is not None


def test_a_rolled_back_implement_queues_nothing(
    requester: Any, approver: Any, approver_b: Any, implementer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.db import transaction

    order = approved_order(requester, [approver, approver_b])
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        workorder_implement(work_order_id=order.pk, user=implementer)
        raise RuntimeError("the request failed after the transition")
    assert callbacks == []
    order.refresh_from_db()
    assert order.state == S.APPROVED


def test_a_failed_order_can_be_retried(requester: Any, approver: Any, approver_b: Any, implementer: Any) -> None:
    order = approved_order(requester, [approver, approver_b])
    WorkOrder.objects.filter(pk=order.pk).update(state=S.FAILED, error="CA down", attempts=4)
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async"):
        order = workorder_retry(work_order_id=order.pk, user=implementer, comment="CA is back")
    assert order.state == S.IN_PROGRESS and order.error == ""
    assert order.events.last().verb == "retry"
