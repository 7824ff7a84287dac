"""Canary: device passwords never reach an API response, a log line or a Celery message.

Real parts throughout: the simulated hosts accept the canary passwords over real WinRM, a real worker validates the
devices through Redis (every command sent to Redis is recorded with MONITOR), the worker logs at DEBUG, this process's
log records are captured, and every API answer of the flow is kept. Then the canaries are searched everywhere, also
inside the base64 bodies of the Celery messages.
"""

from __future__ import annotations

import base64
import copy
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from iissim.lab import Lab
from iissim.labfile import read_lab_file
from tests.devices.helpers import wait_for
from tests.devices.labs import LAB_FILE, SERVICE_ACCOUNT, host_address, running_lab

pytestmark = pytest.mark.integration

DEVICE_CANARY = "Canary-Dev1ce-7f3a9c!"
LIST_CANARY = "Canary-L1st-52e81b$"
SHARE_CANARY = "Canary-Sh4re-c0ffee@"
GATEWAY_CANARY = "Canary-Gatew4y-9d1e%"
CANARIES = (DEVICE_CANARY, LIST_CANARY, SHARE_CANARY, GATEWAY_CANARY)
BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


@pytest.fixture(scope="module")
def canary_lab() -> Iterator[Lab]:
    """The demo lab whose service account and share use the canary passwords."""
    spec = copy.deepcopy(read_lab_file(LAB_FILE))
    for host, password in zip(spec["hosts"], (DEVICE_CANARY, LIST_CANARY, DEVICE_CANARY), strict=True):
        for user in host["users"]:
            if user["name"] == SERVICE_ACCOUNT:
                user["password"] = password
    spec["shares"][0]["password"] = SHARE_CANARY
    yield from running_lab(spec)


class RedisRecorder:
    """Every command any client sends to the Redis server while recording (MONITOR)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.commands: list[str] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self.connection = monitor.connection
            self.ready.set()
            try:
                for event in monitor.listen():
                    self.commands.append(str(event.get("command", "")))
            except (redis.ConnectionError, ValueError, OSError, AttributeError):
                return

    def __enter__(self) -> RedisRecorder:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.disconnect()
        self.thread.join(5)


def decoded_parts(text: str) -> list[str]:
    """The text itself plus whatever its base64 tokens decode to (Celery bodies are base64 in Redis)."""
    parts = [text]
    for token in BASE64_TOKEN.findall(text):
        padded = token + "=" * (-len(token) % 4)
        try:
            parts.append(base64.b64decode(padded).decode("utf-8", "replace"))
        except ValueError:
            continue
    return parts


def assert_no_canary(where: str, texts: list[str]) -> None:
    for text in texts:
        for part in decoded_parts(text):
            for canary in CANARIES:
                assert canary not in part, f"a password canary leaked into {where}: ...{part[:300]}..."


def test_no_api_response_log_line_or_celery_message_contains_a_device_password(
    canary_lab: Lab,
    redis_broker: str,
    worker_factory: Any,
    admin_user: Any,
    api: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = api(admin_user)
    responses: list[str] = []

    def call(method: str, path: str, body: Any = None) -> Any:
        response = (
            getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)
        )
        responses.append(response.content.decode())
        assert response.status_code < 500, response.content
        return response.json() if response.content else None

    with RedisRecorder(redis_broker) as recorder:
        worker = worker_factory("devices", ["devices"], redis_broker, extra_env={"LOG_LEVEL": "DEBUG"})
        lab = canary_lab
        entry = call(
            "post", "/api/v1/credentials/", {"name": "svc", "username": SERVICE_ACCOUNT, "password": LIST_CANARY}
        )
        gateway = call("get", "/api/v1/gateways/")["results"][0]
        call("patch", f"/api/v1/gateways/{gateway['id']}/", {"username": "CORP\\gw", "password": GATEWAY_CANARY})
        share = next(iter(lab.shares.shares.values()))

        def winrm(host: str) -> dict[str, Any]:
            return {
                "scheme": "https",
                "port": lab.winrm_port(host, "https"),
                "auth": "ntlm",
                "ca_bundle": lab.ca_pem.decode(),
            }

        devices = [
            {
                "name": "manual",
                "hostname": host_address(lab, "IIS2016"),
                "credential": {"type": "manual", "username": SERVICE_ACCOUNT, "password": DEVICE_CANARY},
                "winrm": winrm("IIS2016"),
            },
            {
                "name": "from-list",
                "hostname": host_address(lab, "IIS2019"),
                "credential": {"type": "credential_list", "id": entry["id"]},
                "winrm": winrm("IIS2019"),
            },
            {
                "name": "with-share",
                "hostname": host_address(lab, "IIS2022"),
                "credential": {"type": "manual", "username": SERVICE_ACCOUNT, "password": DEVICE_CANARY},
                "winrm": winrm("IIS2022"),
                "locations": {"certificate_store": True, "file_system": {"path": share.unc}},
                "folder_credential": {
                    "mode": "new",
                    "type": "manual",
                    "username": share.username,
                    "password": SHARE_CANARY,
                },
            },
            {
                "name": "wrong-password",
                "hostname": host_address(lab, "IIS2016"),
                "credential": {"type": "manual", "username": SERVICE_ACCOUNT, "password": LIST_CANARY},
                "winrm": winrm("IIS2016"),
            },
        ]
        ids = [call("post", "/api/v1/devices/", device)["id"] for device in devices]
        for device_id in ids:
            wait_for(
                lambda d=device_id: call("get", f"/api/v1/devices/{d}/")["validation"]["state"] == "finished",
                timeout=90,
                message=f"device {device_id} not validated:\n{worker.log()[-3000:]}",
            )
        final = {d["name"]: d for d in call("get", "/api/v1/devices/")["results"]}
        call("post", f"/api/v1/devices/{ids[0]}/validate/")
        call("post", "/api/v1/devices/validate/", {"devices": ids})
        call("get", f"/api/v1/devices/{ids[0]}/profiles/")
        call("get", "/api/v1/credentials/")
        call("get", "/api/v1/gateways/")
        call("get", "/api/v1/audit-events/")
        for device in final.values():
            if device["validation"]["job"]:
                call("get", f"/api/v1/jobs/{device['validation']['job']}/")
        for device_id in ids:
            wait_for(
                lambda d=device_id: call("get", f"/api/v1/devices/{d}/")["validation"]["state"] == "finished",
                timeout=90,
            )
        worker.stop()

    # The flow really used the canaries: the hosts accepted them (and refused the wrong one).
    assert (final["manual"]["status"], final["from-list"]["status"], final["with-share"]["status"]) == (
        "managed",
        "managed",
        "managed",
    ), {k: v["status_reason"] for k, v in final.items()}
    assert final["wrong-password"]["status_reason"] == "Device communication: authentication failed"
    assert any("LPUSH" in c.upper() and "devices" in c for c in recorder.commands), "no Celery message recorded"
    assert_no_canary("an API response", responses)
    assert_no_canary("a Redis command (Celery message)", recorder.commands)
    assert_no_canary("the worker's log", [worker.log()])
    assert_no_canary("this process's log", [caplog.text, *(r.getMessage() for r in caplog.records)])
