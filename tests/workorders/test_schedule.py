"""Scheduled implementation ("manual implementation" off): beat starts an order at its time, and not before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from clm.api.errors import ApplicationError, Conflict
from tests.workorders.helpers import approved_order
from workorders.choices import WorkOrderState
from workorders.services import workorder_implement, workorder_start_due
from workorders.tasks import workorder_start_due_task

S = WorkOrderState


def test_it_schedules_an_order_for_later(requester: Any, approver: Any, approver_b: Any, implementer: Any) -> None:
    order = approved_order(requester, [approver, approver_b])
    at = timezone.now() + timedelta(hours=1)
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async") as send:
        order = workorder_implement(work_order_id=order.pk, user=implementer, schedule_at=at, comment="tonight")
    send.assert_not_called()
    assert (order.state, order.schedule_at) == (S.SCHEDULED, at)


def test_beat_starts_it_at_its_time_and_not_before(
    requester: Any, approver: Any, approver_b: Any, implementer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    now = timezone.now()
    order = approved_order(requester, [approver, approver_b])
    workorder_implement(work_order_id=order.pk, user=implementer, schedule_at=now + timedelta(hours=1))

    assert workorder_start_due(now=now + timedelta(minutes=59, seconds=59)) == []
    order.refresh_from_db()
    assert order.state == S.SCHEDULED

    with (
        mock.patch("workorders.tasks.workorder_execute_task.apply_async") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        started = workorder_start_due(now=now + timedelta(hours=1))
    assert started == [order.pk]
    send.assert_called_once_with(args=[order.pk, 1])
    order.refresh_from_db()
    assert order.state == S.IN_PROGRESS
    event = order.events.last()
    assert (event.verb, event.actor_name, event.from_state) == ("start", "system", S.SCHEDULED)


def test_the_beat_task_uses_the_clock(requester: Any, approver: Any, approver_b: Any, implementer: Any) -> None:
    """Time travel through the clock itself: the task has no `now` parameter."""
    now = timezone.now()
    order = approved_order(requester, [approver, approver_b])
    workorder_implement(work_order_id=order.pk, user=implementer, schedule_at=now + timedelta(days=2))
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async"):
        with mock.patch("django.utils.timezone.now", return_value=now + timedelta(days=1)):
            assert workorder_start_due_task.apply().get() == []
        with mock.patch("django.utils.timezone.now", return_value=now + timedelta(days=2, seconds=1)):
            assert workorder_start_due_task.apply().get() == [order.pk]
    order.refresh_from_db()
    assert order.state == S.IN_PROGRESS


def test_two_beats_start_a_due_order_once(requester: Any, approver: Any, approver_b: Any, implementer: Any) -> None:
    now = timezone.now()
    order = approved_order(requester, [approver, approver_b])
    workorder_implement(work_order_id=order.pk, user=implementer, schedule_at=now + timedelta(minutes=5))
    later = now + timedelta(minutes=6)
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async"):
        assert workorder_start_due(now=later) == [order.pk]
        assert workorder_start_due(now=later) == []
    assert order.events.filter(verb="start").count() == 1


def test_a_time_in_the_past_is_refused_naming_the_field(
    requester: Any, approver: Any, approver_b: Any, implementer: Any
) -> None:
    order = approved_order(requester, [approver, approver_b])
    with pytest.raises(ApplicationError) as refused:
        workorder_implement(work_order_id=order.pk, user=implementer, schedule_at=timezone.now() - timedelta(minutes=1))
    assert "schedule_at" in refused.value.errors
    order.refresh_from_db()
    assert order.state == S.APPROVED


def test_a_scheduled_order_can_be_implemented_now_but_not_rescheduled(
    requester: Any, approver: Any, approver_b: Any, implementer: Any
) -> None:
    order = approved_order(requester, [approver, approver_b])
    workorder_implement(work_order_id=order.pk, user=implementer, schedule_at=timezone.now() + timedelta(hours=3))
    with pytest.raises(Conflict, match="already scheduled"):
        workorder_implement(work_order_id=order.pk, user=implementer, schedule_at=timezone.now() + timedelta(hours=4))
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async"):
        assert workorder_implement(work_order_id=order.pk, user=implementer).state == S.IN_PROGRESS


def test_beat_has_the_periodic_task_and_it_names_a_registered_task(db: Any) -> None:
    from django_celery_beat.models import PeriodicTask

    from clm.celery import app

    task = PeriodicTask.objects.get(task="workorders.start_due")
    assert task.enabled and task.interval.every == 30 and task.interval.period == "seconds"
    assert "workorders.start_due" in app.tasks
