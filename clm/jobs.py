"""The job framework: a `Job` row created in the request, a Celery task queued on commit, progress in the row.

A job kind is a function registered with `@job_kind("name", queue=...)`. It receives the job and a `Progress`
reporter and returns a JSON-serialisable result. Raising `TransientJobError` asks for a bounded retry with
back-off; any other exception fails the job with its message. Secrets never go into `params`: pass ids.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clm.choices import JobState
from clm.models import Job

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


class TransientJobError(Exception):
    """A failure that a later attempt may not hit (a host timed out, a CA was busy)."""


class Progress:
    """Writes a running job's progress (0-100) and message with a single UPDATE."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id

    def __call__(self, percent: int, message: str = "") -> None:
        Job.objects.filter(pk=self.job_id, state=JobState.RUNNING).update(
            progress=max(0, min(100, int(percent))), message=message[:500]
        )


JobHandler = Callable[[Job, Progress], dict[str, Any] | None]


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: JobHandler
    queue: str


_kinds: dict[str, JobKind] = {}


def job_kind(name: str, *, queue: str = "default") -> Callable[[JobHandler], JobHandler]:
    """Register a handler for jobs of kind `name` (their default queue is `queue`)."""

    def register(handler: JobHandler) -> JobHandler:
        _kinds[name] = JobKind(name=name, handler=handler, queue=queue)
        return handler

    return register


def job_kind_get(name: str) -> JobKind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"unknown job kind {name!r}") from None


def job_enqueue(*, kind: str, params: dict[str, Any] | None = None, user: Any = None, queue: str | None = None) -> Job:
    """Create a queued job and send its task once the surrounding transaction commits."""
    spec = job_kind_get(kind)
    job = Job.objects.create(
        kind=kind,
        params=params or {},
        queue=queue or spec.queue,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    from clm.tasks import run_job

    # Queued after commit: a worker that picks the task up must find the row.
    transaction.on_commit(lambda: run_job.apply_async(args=[job.pk], queue=job.queue))
    return job


def job_start(job_id: int) -> Job | None:
    """queued -> running (or a re-delivered running job after a lost worker). Returns None when the job is not
    startable: finished already, unknown, or out of attempts."""
    now = timezone.now()
    updated = Job.objects.filter(pk=job_id, state__in=[JobState.QUEUED, JobState.RUNNING], attempts__lt=MAX_ATTEMPTS)
    # A conditional UPDATE: two deliveries of the same task cannot both move a finished job back to running.
    if not updated.update(
        state=JobState.RUNNING, attempts=F("attempts") + 1, started_at=now, worker=socket.gethostname()[:200]
    ):
        stale = Job.objects.filter(pk=job_id, state=JobState.RUNNING, attempts__gte=MAX_ATTEMPTS)
        stale.update(state=JobState.FAILED, error="gave up after repeated worker loss", finished_at=now)
        return None
    return Job.objects.get(pk=job_id)


def job_requeue(job_id: int) -> bool:
    """running -> queued, before a retry of a transient failure."""
    return bool(Job.objects.filter(pk=job_id, state=JobState.RUNNING).update(state=JobState.QUEUED))


def job_complete(job_id: int, result: dict[str, Any] | None) -> bool:
    """running -> completed with its result."""
    return bool(
        Job.objects.filter(pk=job_id, state=JobState.RUNNING).update(
            state=JobState.COMPLETED, result=result or {}, progress=100, error="", finished_at=timezone.now()
        )
    )


def job_fail(job_id: int, error: str) -> bool:
    """running|queued -> failed with the reason."""
    return bool(
        Job.objects.filter(pk=job_id, state__in=[JobState.RUNNING, JobState.QUEUED]).update(
            state=JobState.FAILED, error=error[:4000], finished_at=timezone.now()
        )
    )


def job_run(job_id: int) -> str:
    """Run a job's handler in this worker; returns the state it ended in ("skipped" when not startable).

    Raises TransientJobError back to the task when a retry is allowed.
    """
    job = job_start(job_id)
    if job is None:
        return "skipped"
    spec = job_kind_get(job.kind)
    try:
        result = spec.handler(job, Progress(job.pk))
    except TransientJobError as exc:
        if job.attempts < MAX_ATTEMPTS:
            job_requeue(job.pk)
            raise
        job_fail(job.pk, f"{exc} (gave up after {job.attempts} attempts)")
        return JobState.FAILED
    except Exception as exc:
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        job_fail(job.pk, str(exc) or exc.__class__.__name__)
        return JobState.FAILED
    job_complete(job.pk, result)
    return JobState.COMPLETED
