"""The Celery app. Queues: `default` (CA calls, jobs), `devices` (WinRM), and `gw.<name>` per external gateway."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init
from celery.signals import worker_init as worker_init_signal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clm.settings")

app = Celery("clm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

DEVICE_QUEUE = "devices"
DEFAULT_QUEUE = "default"
GATEWAY_QUEUE_PREFIX = "gw."


def gateway_queue(gateway_name: str | None) -> str:
    """The queue a device's jobs go to: its external gateway's own queue, else the integrated `devices` queue."""
    if not gateway_name or gateway_name == "integrated-gateway":
        return DEVICE_QUEUE
    return f"{GATEWAY_QUEUE_PREFIX}{gateway_name}"


def route_task(name: str, args: Any, kwargs: Any, options: dict[str, Any], task: Any = None, **kw: Any) -> dict:
    """Celery routing hook: an explicit `queue=` wins (device jobs pass their gateway's queue); tasks that declare
    `device_task = True` default to the `devices` queue; everything else runs on `default`."""
    if options.get("queue"):
        return {"queue": options["queue"]}
    if task is not None and getattr(task, "device_task", False):
        return {"queue": DEVICE_QUEUE}
    return {"queue": DEFAULT_QUEUE}


@worker_process_init.connect
def _reset_db_connections(**_: Any) -> None:
    # A forked worker child must not reuse the parent's database socket.
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()


@task_prerun.connect
@task_postrun.connect
def _retire_db_connections(sender: Any = None, **_: Any) -> None:
    """What Django does around each request, around each task: a connection that is broken, past CONN_MAX_AGE, or
    left outside autocommit is closed; a healthy one serves the next task. (Celery's own Django fixup would close
    every connection around every task; CELERY_DB_REUSE_MAX in the settings holds it back.) Not for a task applied
    eagerly, whose caller's connection (and transaction) it shares."""
    from django.db import connections

    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


@worker_init_signal.connect
def _refuse_misconfigured_worker(**_: Any) -> None:
    from clm.checks import run_startup_checks

    run_startup_checks()


def device_task(*, name: str, **options: Any) -> Any:
    """Decorator for tasks that talk to devices: routed to the `devices` queue unless the caller passes its gateway's
    queue, acknowledged late, re-queued when the worker dies, and bounded by the device time limits."""
    from django.conf import settings

    defaults: dict[str, Any] = {
        "acks_late": True,
        "reject_on_worker_lost": True,
        "soft_time_limit": settings.CLM_DEVICE_TASK_SOFT_TIME_LIMIT,
        "time_limit": settings.CLM_DEVICE_TASK_TIME_LIMIT,
        "device_task": True,
    }
    return app.task(name=name, **{**defaults, **options})
