"""Celery tasks of the core package (thin: load by id, call the service)."""

from __future__ import annotations

from celery import shared_task

from clm.jobs import TransientJobError, job_run


@shared_task(
    name="clm.run_job",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientJobError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=3,
)
def run_job(self: object, job_id: int) -> str:
    """Run job `job_id` (queued -> running -> completed | failed); a finished job is left alone."""
    return job_run(job_id)
