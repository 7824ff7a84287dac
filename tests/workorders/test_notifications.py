"""Notifications to the next actor: in the portal, and by e-mail through Django's mail backend."""

from __future__ import annotations

from typing import Any
from unittest import mock

from django.core import mail

from tests.fixtures.users import make_user
from tests.workorders.helpers import new_order
from workorders.models import Notification
from workorders.services import (
    notification_email_send,
    notification_mark_read,
    workorder_approve,
    workorder_submit,
)
from workorders.tasks import notification_email_task


def test_submit_tells_the_approvers_but_not_the_requester(requester: Any, approver: Any, approver_b: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    told = set(Notification.objects.filter(work_order=order).values_list("user__username", flat=True))
    assert told == {approver.username, approver_b.username}
    assert "awaits your approval (level 1 of 2)" in approver.notifications.get().message


def test_the_second_level_is_asked_of_approvers_who_have_not_approved(
    requester: Any, approver: Any, approver_b: Any
) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    notification_mark_read(user=approver_b)
    workorder_approve(work_order_id=order.pk, user=approver)
    second = Notification.objects.filter(work_order=order, message__contains="level 2 of 2")
    assert list(second.values_list("user__username", flat=True)) == [approver_b.username]


def test_final_approval_tells_the_implementers_and_the_requester(
    requester: Any, approver: Any, approver_b: Any, implementer: Any
) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    workorder_approve(work_order_id=order.pk, user=approver)
    workorder_approve(work_order_id=order.pk, user=approver_b)
    assert implementer.notifications.filter(message__contains="ready to implement").exists()
    assert requester.notifications.filter(message__contains="is approved").exists()


def test_notifications_are_emailed_once_after_commit(requester: Any, django_capture_on_commit_callbacks: Any) -> None:
    approver = make_user("mail-approver", "approver")
    approver.email = "approver@example.test"
    approver.save()
    no_mail = make_user("nomail-approver", "approver")
    order = new_order(requester)
    with (
        mock.patch("workorders.tasks.notification_email_task.delay") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        workorder_submit(work_order_id=order.pk, user=requester)
    ids = send.call_args.args[0]
    assert set(Notification.objects.filter(pk__in=ids).values_list("user", flat=True)) >= {approver.pk, no_mail.pk}
    assert mail.outbox == []
    assert notification_email_task.apply(args=[ids]).get() == 1
    assert notification_email_send(notification_ids=ids) == 0  # already e-mailed
    [message] = mail.outbox
    assert message.to == ["approver@example.test"]
    assert order.work_order_id in message.subject and f"/work-orders/{order.pk}/" in message.body


def test_mark_read_only_touches_the_users_own_notifications(requester: Any, approver: Any, approver_b: Any) -> None:
    order = new_order(requester)
    workorder_submit(work_order_id=order.pk, user=requester)
    assert notification_mark_read(user=approver) == 1
    assert approver.notifications.filter(read_at__isnull=True).count() == 0
    assert approver_b.notifications.filter(read_at__isnull=True).count() == 1
