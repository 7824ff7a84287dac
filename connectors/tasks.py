"""Celery tasks of connectors: thin (ids in, a service call). Push and rollback themselves run as work-order
executors (connectors.push); these are the preview of a push and the push-validation sweep."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from clm.celery import device_task
from connectors.previewing import PreviewRetry, push_preview_run

PREVIEW_RETRIES = 3


@device_task(name="connectors.push_preview", bind=True, max_retries=PREVIEW_RETRIES)
def push_preview_task(self: Any, work_order_id: int) -> str:
    """Read the order's devices and write its preview; submit the order (or cancel it with the refusals). A device
    that does not answer is tried again with back-off before the preview gives up on it."""
    try:
        return push_preview_run(work_order_id=work_order_id, final=self.request.retries >= self.max_retries)
    except PreviewRetry as exc:
        raise self.retry(countdown=min(10 * 2**self.request.retries, 120), exc=exc) from exc


@shared_task(name="connectors.push_validation", acks_late=True, reject_on_worker_lost=True)
def push_validation_task() -> list[int]:
    """Beat (interval from General Settings, hourly by default): one sweep per gateway, each on its gateway's queue
    (the TLS checks start where the servers are reachable from)."""
    from connectors.validation import gateways_with_endpoints
    from devices.models import Gateway

    queued = []
    for gateway_id in gateways_with_endpoints():
        gateway = Gateway.objects.filter(pk=gateway_id).first()
        queue = gateway.queue if gateway is not None else "devices"
        push_validation_sweep_task.apply_async(args=[gateway_id], queue=queue)
        queued.append(gateway_id)
    return queued


@device_task(name="connectors.push_validation_sweep")
def push_validation_sweep_task(gateway_id: int | None, trigger: str = "beat") -> int:
    from connectors.validation import push_validation_sweep

    return push_validation_sweep(gateway_id=gateway_id, trigger=trigger).pk
