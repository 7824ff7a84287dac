"""Work-order pages: list tabs, detail with timeline, comment dialogs of the verbs, live status, notifications."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from tests.fixtures.users import PASSWORD
from tests.workorders.helpers import approved_order, new_order
from workorders.choices import WorkOrderState
from workorders.models import WorkOrder
from workorders.services import workorder_submit

S = WorkOrderState


def signed_in(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture(autouse=True)
def no_broker() -> Any:
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async") as send:
        yield send


def test_the_list_tabs_show_my_requests_and_what_awaits_my_approval(
    requester: Any, approver: Any, auditor: Any
) -> None:
    mine = new_order(requester)
    submitted = new_order(requester)
    workorder_submit(work_order_id=submitted.pk, user=requester)
    page = signed_in(requester).get("/work-orders/?tab=mine").content.decode()
    assert mine.work_order_id in page and submitted.work_order_id in page
    approval = signed_in(approver).get("/work-orders/").content.decode()  # approvers land on their tab
    assert submitted.work_order_id in approval and mine.work_order_id not in approval
    assert "awaits your approval" in approval  # the notification
    assert "tab-all" not in approval
    assert mine.work_order_id in signed_in(auditor).get("/work-orders/?tab=all").content.decode()


def test_the_empty_list_says_what_to_do_next(requester: Any) -> None:
    page = signed_in(requester).get("/work-orders/?tab=mine").content.decode()
    assert "You have no requests yet" in page and "/enroll/server/" in page


def test_the_detail_shows_the_timeline_and_only_the_allowed_buttons(
    requester: Any, approver: Any, auditor: Any
) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester, comment="for the new site")
    as_approver = signed_in(approver).get(f"/work-orders/{order.pk}/").content.decode()
    assert "for the new site" in as_approver
    assert 'data-testid="wo-approve"' in as_approver and 'data-testid="wo-reject"' in as_approver
    as_auditor = signed_in(auditor).get(f"/work-orders/{order.pk}/").content.decode()
    assert 'data-testid="wo-approve"' not in as_auditor and "for the new site" in as_auditor


def test_approving_through_the_dialog_records_the_comment(requester: Any, approver: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    client = signed_in(approver)
    dialog = client.get(f"/work-orders/{order.pk}/approve/", HTTP_HX_REQUEST="true")
    assert dialog.status_code == 200 and b'name="comment"' in dialog.content and b"<html" not in dialog.content
    response = client.post(
        f"/work-orders/{order.pk}/approve/",
        {"comment": "looks right", "expected_state": "submitted", "next": f"/work-orders/{order.pk}/"},
    )
    assert response.status_code == 302 and response["Location"] == f"/work-orders/{order.pk}/"
    order.refresh_from_db()
    assert order.state == S.APPROVED_L1 and order.events.last().comment == "looks right"


def test_a_refused_verb_redisplays_the_dialog_with_the_reason(requester: Any, approver: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    client = signed_in(approver)
    client.post(f"/work-orders/{order.pk}/approve/", {"comment": "one"})
    response = client.post(f"/work-orders/{order.pk}/approve/", {"comment": "two", "expected_state": "approved_l1"})
    assert response.status_code == 400
    assert b"different approver" in response.content and b"two" in response.content


def test_reject_without_a_reason_keeps_the_dialog_open(requester: Any, approver: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    response = signed_in(approver).post(f"/work-orders/{order.pk}/reject/", {"comment": ""})
    assert response.status_code == 400 and b"This field is required" in response.content
    assert WorkOrder.objects.get(pk=order.pk).state == S.SUBMITTED


def test_implement_later_schedules_and_now_starts(
    requester: Any, approver: Any, approver_b: Any, implementer: Any, no_broker: Any
) -> None:
    later = approved_order(requester, [approver, approver_b])
    client = signed_in(implementer)
    page = client.get(f"/work-orders/{later.pk}/implement/").content.decode()
    assert "Manual implementation" in page and 'type="datetime-local"' in page
    when = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    client.post(f"/work-orders/{later.pk}/implement/", {"manual_implementation": "off", "schedule_at": when})
    later.refresh_from_db()
    assert later.state == S.SCHEDULED and later.schedule_at is not None
    missing = client.post(f"/work-orders/{later.pk}/implement/", {"manual_implementation": "off", "schedule_at": ""})
    assert missing.status_code == 400

    now = approved_order(requester, [approver, approver_b])
    client.post(f"/work-orders/{now.pk}/implement/", {"manual_implementation": "on", "comment": "go"})
    now.refresh_from_db()
    assert now.state == S.IN_PROGRESS


def test_the_status_chip_asks_the_page_to_refresh_when_the_state_changed(
    requester: Any, approver: Any, approver_b: Any
) -> None:
    order = approved_order(requester, [approver, approver_b])
    WorkOrder.objects.filter(pk=order.pk).update(state=S.IN_PROGRESS)
    client = signed_in(requester)
    same = client.get(f"/work-orders/{order.pk}/status/?seen=in_progress")
    assert "HX-Refresh" not in same and b'hx-trigger="every 2s"' in same.content
    WorkOrder.objects.filter(pk=order.pk).update(state=S.COMPLETED)
    changed = client.get(f"/work-orders/{order.pk}/status/?seen=in_progress")
    assert changed["HX-Refresh"] == "true"


def test_the_timeline_dialog_lists_every_event(requester: Any, approver: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester, comment="first")
    body = signed_in(approver).get(f"/work-orders/{order.pk}/timeline/").content.decode()
    assert body.count("<li>") == 2 and "first" in body


def test_notifications_page_and_mark_read(requester: Any, approver: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    client = signed_in(approver)
    assert order.work_order_id in client.get("/notifications/").content.decode()
    client.post("/notifications/read/", {"next": "/work-orders/"})
    assert not approver.notifications.filter(read_at__isnull=True).exists()


def test_a_user_without_a_role_is_refused(db: Any) -> None:
    from tests.fixtures.users import make_user

    nobody = make_user("no-role")
    assert signed_in(nobody).get("/work-orders/").status_code == 403
    assert Client().get("/work-orders/").status_code == 302  # to the sign-in page
