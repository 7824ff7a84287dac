"""Celery tasks of discovery: thin wrappers that load by id and call the run services.

- `discovery.run_batch` (default queue): queue the device tasks of one batch.
- `discovery.run_device` (the device's gateway queue, acks late, per-call time limits): read and record one device.
- `discovery.run_scheduled` (fired by django-celery-beat): start a scheduled run if occurrences are left.
- `discovery.reap_runs` (every minute, from beat): fail rows whose worker is gone.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from clm.celery import device_task
from discovery import runs

logger = logging.getLogger(__name__)

TRANSIENT_RETRIES = 1
RETRY_DELAY = 5


@shared_task(name="discovery.run_batch", acks_late=True)
def run_batch(run_id: int, batch: int) -> int:
    """Queue the devices of batch `batch` of run `run_id` (rows still queued only)."""
    return runs.run_batch_dispatch(run_id=run_id, batch=batch)


@device_task(name="discovery.run_device", bind=True)
def run_device(self: Any, row_id: int) -> str:
    """Discover one device of a run. Row: queued -> running -> completed | failed (the reason kept); a row that is not
    queued (finished, or taken by another delivery) is left alone. Unreachable hosts and timeouts are retried once."""
    from devices.iis.errors import DeviceError
    from devices.sessions import CredentialUnavailable, GatewayUnsupported

    row = runs.run_device_begin(row_id=row_id)
    if row is None:
        return "skipped"
    limit = int(row.run.options.get("device_time_limit") or 300)

    def fail(kind: str, error: str) -> str:
        runs.run_device_fail(row_id=row_id, kind=kind, error=error, run_id=row.run_id, batch=row.batch)
        return "failed"

    try:
        outcome = runs.discovery_device_run(row=row)
    except SoftTimeLimitExceeded:
        return fail("timeout", f"Time limit of {limit} s per device exceeded.")
    except DeviceError as exc:
        if (
            exc.retryable
            and self.request.retries < TRANSIENT_RETRIES
            and runs.run_device_retry(row_id=row_id, error=exc.message)
        ):
            raise self.retry(countdown=RETRY_DELAY, max_retries=TRANSIENT_RETRIES) from exc
        return fail(exc.kind, exc.message)
    except CredentialUnavailable as exc:
        return fail("credential_unavailable", f"Credential unavailable: {exc}")
    except GatewayUnsupported as exc:
        return fail("gateway_unsupported", str(exc))
    except (runs.SitesUnavailable, runs.DeviceGone) as exc:
        return fail("operation_failed", str(exc))
    except Exception as exc:
        logger.exception("discovery of device row %s failed", row_id)
        return fail("internal_error", f"{type(exc).__name__}: {exc}")
    runs.run_device_complete(row_id=row_id, outcome=outcome, run_id=row.run_id, batch=row.batch)
    return "completed"


@shared_task(name="discovery.run_scheduled", acks_late=True)
def run_scheduled(discovery_id: int) -> int | None:
    """Start the scheduled discovery `discovery_id` (beat calls this); returns the run id, or None when the
    discovery is gone, no longer scheduled, or has used up its occurrences."""
    from discovery.services import discovery_run_scheduled

    run = discovery_run_scheduled(discovery_id=discovery_id)
    return run.pk if run is not None else None


@shared_task(name="discovery.reap_runs", acks_late=True)
def reap_runs() -> int:
    return runs.discovery_runs_reap()
