"""The demo of `make run`: the lab's hosts are onboarded from the lab.json the simulator writes, idempotently, and a
fresh `manage.py run_portal` (what `make run` runs) shows the three demo hosts Managed in the Server inventory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devices.choices import CredentialType, FolderCredentialMode
from devices.demo import DEMO_CREDENTIAL, DEMO_PASSWORD_VAULT, demo_enabled, demo_lab_process, demo_onboard
from devices.models import Device
from iissim.lab import Lab
from tests.clm.test_run_portal import free_port, http
from tests.devices.labs import DEMO_HOSTS, SERVICE_ACCOUNT
from tests.fixtures.workers import ROOT
from vaults.models import Credential, PasswordVault


@pytest.mark.django_db
def test_the_demo_onboards_every_lab_host_through_the_integrated_gateway(demo_lab: Lab) -> None:
    info = demo_lab.info()
    devices = demo_onboard(info=info, validate=False)
    assert [d.name for d in devices] == list(DEMO_HOSTS)
    credential = Credential.objects.get(name=DEMO_CREDENTIAL)
    assert credential.username == SERVICE_ACCOUNT
    assert credential.password == demo_lab.users["IIS2016"][SERVICE_ACCOUNT]
    for device, host in zip(devices, info["hosts"], strict=True):
        assert device.hostname == host["address"]
        assert device.winrm_port == host["winrm"]["https_port"]
        assert (device.credential_type, device.credential, device.gateway.name) == (
            CredentialType.CREDENTIAL_LIST,
            credential,
            "integrated-gateway",
        )
        assert device.ca_bundle == demo_lab.ca_pem.decode().strip()
    vault = PasswordVault.objects.get(name=DEMO_PASSWORD_VAULT)
    assert "Renew@l$2026" in vault.password_list()
    assert devices[0].file_system_path == "C:\\certs" and devices[0].password_vault == vault
    share = info["shares"][0]
    assert (devices[2].file_system_path, devices[2].folder_credential_mode, devices[2].folder_password) == (
        share["unc"],
        FolderCredentialMode.NEW,
        share["password"],
    )
    again = demo_onboard(info=info, validate=False)
    assert [d.pk for d in again] == [d.pk for d in devices]
    assert Device.objects.count() == 3 and Credential.objects.count() == 1


def test_clm_demo_0_turns_the_demo_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLM_DEMO", "0")
    assert not demo_enabled() and demo_lab_process() is None
    monkeypatch.setenv("CLM_DEMO", "1")
    monkeypatch.setenv("CLM_DEMO_LAB_RELOCATE", "auto")
    spec = demo_lab_process()
    assert spec is not None and spec.argv[1:4] == ["-m", "iissim", "--lab"]
    assert spec.argv[-3:] == ["--relocate", "auto", "--ephemeral-winrm"]


@pytest.mark.integration
def test_make_run_shows_the_three_demo_hosts_managed(tmp_path: Path) -> None:
    """`manage.py run_portal` on an empty data directory, as `make run` starts it (the lab moved to a free network
    so that parallel runs do not collide). The figure against the one-minute target is printed by
    benchmarks/demo_onboarding.py; here the wait is only bounded."""
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
    started = time.monotonic()
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
    devices: list[dict[str, Any]] = []
    try:
        deadline = started + 150
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
            status, body = http("GET", f"{base}/api/v1/devices/", token=token)
            devices = body["results"] if status == 200 else []
            if len(devices) == 3 and all(d["status"] == "managed" for d in devices):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        assert [(d["name"], d["status"]) for d in devices] == [(name, "managed") for name in DEMO_HOSTS], "".join(
            output
        )[-4000:]
        print(f"demo hosts managed {elapsed:.1f} s after start")
        assert all([e["outcome"] for e in d["status_log"]] == ["ok"] * 4 for d in devices)
        assert re.search(r"Demo: onboarded 3 simulated IIS server", "".join(output))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=40)
    assert "iissim: stopped" in "".join(output)
