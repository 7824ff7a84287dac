"""Windows gateways are Celery queues: `manage.py run_gateway <name>` consumes only `gw.<name>`, and each device's
validation runs on its own gateway's worker (real workers, Redis, the simulated hosts over WinRM)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from devices.management.commands.run_gateway import Command as RunGateway
from devices.models import Device
from devices.services import gateway_create
from iissim.lab import Lab
from tests.devices.helpers import gateway_input, wait_for
from tests.devices.labs import SERVICE_ACCOUNT, host_address
from tests.fixtures.workers import ROOT, WorkerProcess, subprocess_env


def start_gateway(name: str, broker: str, timeout: float = 90) -> WorkerProcess:
    """`python manage.py run_gateway <name>` as a gateway inside another network would run it."""
    argv = [sys.executable, "manage.py", "run_gateway", name, "--concurrency", "1", "--loglevel", "INFO"]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=subprocess_env(broker), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    worker = WorkerProcess(name=name, queues=[f"gw.{name}"], proc=proc)
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            worker.output.append(line)
            if " ready." in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"gateway worker {name} did not start:\n{worker.log()[-4000:]}")
    return worker


@pytest.fixture
def gateway_workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def body(lab: Lab, host: str, name: str, gateway: str) -> dict[str, Any]:
    return {
        "name": name,
        "hostname": host_address(lab, host),
        "credential": {
            "type": "manual",
            "username": SERVICE_ACCOUNT,
            "password": lab.users[lab.host(host).name][SERVICE_ACCOUNT],
        },
        "winrm": {
            "scheme": "https",
            "port": lab.winrm_port(host, "https"),
            "auth": "ntlm",
            "ca_bundle": lab.ca_pem.decode(),
        },
        "gateway": {"mode": "external", "select": "existing", "name": gateway},
    }


@pytest.mark.integration
def test_each_devices_validation_runs_on_its_own_gateways_worker(
    demo_lab: Lab,
    redis_broker: str,
    worker_factory: Any,
    gateway_workers: list[WorkerProcess],
    admin_user: Any,
    api: Any,
) -> None:
    gateway_create(data=gateway_input("east"))
    gateway_create(data=gateway_input("west"))
    # The portal's own device worker runs too: it must not take the external gateways' jobs.
    integrated = worker_factory("devices", ["devices"], redis_broker)
    gateway_workers.append(start_gateway("east", redis_broker))
    client = api(admin_user)
    east = client.post("/api/v1/devices/", body(demo_lab, "IIS2016", "dev-east", "east"), format="json").json()
    west = client.post("/api/v1/devices/", body(demo_lab, "IIS2019", "dev-west", "west"), format="json").json()
    assert (east["gateway"]["queue"], west["gateway"]["queue"]) == ("gw.east", "gw.west")

    def state(device: dict[str, Any]) -> dict[str, Any]:
        return client.get(f"/api/v1/devices/{device['id']}/").json()  # type: ignore[no-any-return]

    # Read again once finished: the response that shows the validation finished may hold the device as read a moment
    # before (two queries, no shared snapshot); the validation and the device's status commit together.
    wait_for(lambda: state(east)["validation"]["state"] == "finished", timeout=90)
    done_east = state(east)
    assert done_east["status"] == "managed", done_east["status_reason"]
    assert done_east["validation"]["worker"].startswith("gw-east@")
    # No worker consumes gw.west yet: its validation waits there, untouched by the east and integrated workers.
    time.sleep(3)
    assert state(west)["validation"]["state"] == "queued"

    gateway_workers.append(start_gateway("west", redis_broker))
    wait_for(lambda: state(west)["validation"]["state"] == "finished", timeout=90)
    done_west = state(west)
    assert done_west["status"] == "managed", done_west["status_reason"]
    assert done_west["validation"]["worker"].startswith("gw-west@")

    east_log, west_log = gateway_workers[0].log(), gateway_workers[1].log()
    assert ".> gw.east" in east_log and ".> gw.west" in west_log
    assert "Task clm.run_job" in east_log and "Task clm.run_job" in west_log
    assert "Task clm.run_job" not in integrated.log()
    assert Device.objects.get(pk=west["id"]).last_validation.worker.startswith("gw-west@")  # type: ignore[union-attr]


@pytest.mark.django_db
def test_run_gateway_refuses_an_unknown_gateway() -> None:
    with pytest.raises(CommandError, match="No gateway named 'nowhere'"):
        call_command("run_gateway", "nowhere")


@pytest.mark.django_db
def test_run_gateway_consumes_only_its_queue() -> None:
    gateway = gateway_create(data=gateway_input("dmz"))
    argv = RunGateway().argv(gateway, {"hostname": "", "concurrency": 2, "loglevel": "INFO"})
    assert argv[argv.index("-Q") + 1] == "gw.dmz"
    assert argv[argv.index("-n") + 1] == "gw-dmz@%h"
