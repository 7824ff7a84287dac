"""Job kinds of the core package."""

from __future__ import annotations

import platform
import socket
import time
from typing import Any

from clm.jobs import Progress, job_kind
from clm.models import Job


@job_kind("selftest")
def selftest(job: Job, progress: Progress) -> dict[str, Any]:
    """Proves the worker pipeline end to end: runs `steps` short steps, reporting progress after each."""
    steps = max(1, min(int(job.params.get("steps", 5)), 50))
    delay = max(0.0, min(float(job.params.get("delay", 0.2)), 2.0))
    for step in range(1, steps + 1):
        time.sleep(delay)
        progress(step * 100 // steps, f"step {step} of {steps}")
    return {"steps": steps, "worker": socket.gethostname(), "python": platform.python_version()}
