"""`make run`'s demo after onboarding: the demo discoveries exist and a run fills the inventory, on the default
one-machine set-up (SQLite and the embedded broker) that a new user gets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.demo import demo_onboard
from discovery.demo import DEMO_SCAN, NIGHTLY_SCAN, demo_discoveries
from discovery.models import Discovery
from iissim.lab import Lab
from tests.clm.test_run_portal import free_port, http
from tests.devices.labs import running_lab
from tests.fixtures.workers import ROOT


@pytest.fixture
def lab() -> Iterator[Lab]:
    yield from running_lab()


def test_the_demo_discoveries_cover_the_demo_servers_and_stay_single(db: Any, lab: Lab) -> None:
    assert demo_discoveries() is None  # nothing to discover before onboarding
    devices = demo_onboard(info=lab.info(), validate=False)
    scan, nightly = demo_discoveries() or (None, None)
    assert scan is not None and nightly is not None
    assert set(scan.devices.values_list("id", flat=True)) == {d.pk for d in devices}
    assert nightly.periodic_task is not None and nightly.periodic_task.enabled
    demo_discoveries()
    assert sorted(Discovery.objects.values_list("name", flat=True)) == sorted([DEMO_SCAN, NIGHTLY_SCAN])


@pytest.mark.integration
def test_make_run_fills_the_inventory_from_the_demo_lab(tmp_path: Path) -> None:
    """`manage.py run_portal` on an empty data directory, as `make run` starts it: the demo run completes and the
    inventory lists the lab's certificates, with the locked PFX of the share reported."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "CLM_", "DJANGO_"))}
    env.update(
        DEBUG="1",
        CLM_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="clm.settings",
        PYTHONUNBUFFERED="1",
        CLM_ADMIN_PASSWORD="Demo-admin-1!",
        CLM_DEMO_LAB_RELOCATE="auto",
    )
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_portal", "--port", str(port), "--concurrency", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    run: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 240
        token = None
        while time.monotonic() < deadline and token is None:
            time.sleep(0.5)
            try:
                status, body = http(
                    "POST", f"{base}/api/v1/auth/token/", {"username": "admin", "password": "Demo-admin-1!"}
                )
            except OSError:
                continue
            token = body["token"] if status == 200 else None
        assert token, "".join(output)[-4000:]
        while time.monotonic() < deadline:
            status, body = http("GET", f"{base}/api/v1/discovery-runs/", token=token)
            runs = body["results"] if status == 200 else []
            if runs and runs[0]["state"] in ("completed", "failed"):
                run = runs[0]
                break
            time.sleep(1)
        assert run.get("state") == "completed", ("".join(output)[-4000:], run)
        assert run["devices_done"] == 3 and run["certificates_found"] > 10 and run["locked_files"] >= 0
        status, body = http("GET", f"{base}/api/v1/certificates/?page_size=100", token=token)
        assert status == 200 and len(body["results"]) == run["certificates_found"]
        assert "Demo: discovery run #" in "".join(output)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=40)
