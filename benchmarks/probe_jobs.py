"""The discovery benchmark's baseline job kind, imported by its workers (`celery worker --include`): open the
device's WinRM session through the same session factory discovery uses, run one `host_facts`, close."""

from __future__ import annotations

from typing import Any

from clm.jobs import Progress, job_kind
from clm.models import Job


@job_kind("bench.host_facts", queue="devices")
def host_facts_probe(job: Job, progress: Progress) -> dict[str, Any]:
    from devices.iis import operations
    from devices.models import Device
    from devices.sessions import device_session

    device = Device.objects.select_related("gateway", "credential").get(pk=job.params["device"])
    with device_session(device) as session:
        facts = operations.host_facts(session)
    return {"build": facts.build}
