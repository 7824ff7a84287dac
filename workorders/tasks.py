"""Celery tasks of work orders: thin (ids in, a service call, the follow-up it asks for)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from clm.env import env_str
from workorders.services import (
    MAX_TRANSIENT_RETRIES,
    notification_email_send,
    workorder_execute,
    workorder_start_due,
)


@shared_task(
    name="workorders.execute",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_TRANSIENT_RETRIES,
    soft_time_limit=900,
    time_limit=960,
)
def workorder_execute_task(self: Any, work_order_id: int, attempt: int) -> str:
    """Run attempt `attempt` of an in_progress work order. A transient failure is retried with back-off (bounded by
    max_retries, after which the service fails the order); a pending CA request is polled again later."""
    delivery = getattr(self.request, "delivery_info", None) or {}
    outcome = workorder_execute(
        work_order_id=work_order_id,
        attempt=attempt,
        redelivered=bool(delivery.get("redelivered")),
        final=self.request.retries >= self.max_retries,
    )
    if outcome.status == "retry":
        raise self.retry(args=[work_order_id, attempt + 1], countdown=outcome.countdown)
    if outcome.status == "pending":
        # A poll is not a retry: it does not use up the retry budget of transient errors. It goes back to the queue
        # this run came from (a device gateway's queue for device work).
        queue = (delivery.get("routing_key") or None) if isinstance(delivery, dict) else None
        options = {"queue": queue} if queue else {}
        workorder_execute_task.apply_async(args=[work_order_id, attempt + 1], countdown=outcome.countdown, **options)
    return outcome.status


@shared_task(name="workorders.start_due", acks_late=True, reject_on_worker_lost=True)
def workorder_start_due_task() -> list[int]:
    """Beat (every 30 s): start the scheduled work orders whose time has come."""
    return workorder_start_due()


@shared_task(
    name="workorders.notification_email",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=10,
    retry_backoff_max=300,
    max_retries=5,
)
def notification_email_task(self: Any, notification_ids: list[int]) -> int:
    """E-mail notifications (an unreachable mail server, an OSError, is retried with back-off)."""
    return notification_email_send(notification_ids=notification_ids, portal_url=env_str("CLM_PUBLIC_URL", ""))
