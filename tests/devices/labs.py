"""Running simulated IIS labs for the onboarding tests, and helpers that describe their hosts as device input.

Labs are relocated to a free 127.x.y.0/24 network with ephemeral WinRM ports, so parallel runs do not collide.
The `demo_lab` fixture lives in tests/devices/conftest.py (and tests/e2e/test_onboarding.py).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import kombu.pools

from devices.choices import CertSync, CredentialType, GatewayMode
from devices.services import DeviceInput
from iissim.lab import Lab
from iissim.labfile import read_lab_file
from tests.fixtures.workers import use_broker
from tests.services import broker_url

LAB_FILE = "iissim/labs/demo.yaml"
SERVICE_ACCOUNT = "LAB\\svc-thumbprint"
DEMO_HOSTS = ("IIS2016", "IIS2019", "IIS2022")


def start_lab(spec: dict[str, Any] | None = None) -> Lab:
    source = spec if spec is not None else read_lab_file(LAB_FILE)
    return Lab(copy.deepcopy(source), base_dir="iissim/labs", relocate_to="auto", winrm_ports="ephemeral").start()


def running_lab(spec: dict[str, Any] | None = None) -> Iterator[Lab]:
    """A generator for fixtures: a started lab, stopped afterwards."""
    lab = start_lab(spec)
    try:
        yield lab
    finally:
        lab.stop()


def host_address(lab: Lab, name: str) -> str:
    return lab.host(name).state.addresses[0]


def lab_device_input(
    lab: Lab,
    name: str,
    *,
    device_name: str | None = None,
    scheme: str = "https",
    auth: str = "ntlm",
    password: str | None = None,
    **overrides: Any,
) -> DeviceInput:
    """A device input that onboards lab host `name` with the lab's service account (manual entry)."""
    data = DeviceInput(
        name=device_name or name,
        hostname=host_address(lab, name),
        data_center="lab",
        cert_sync=CertSync.MANAGED,
        credential_type=CredentialType.MANUAL,
        username=SERVICE_ACCOUNT,
        password=password if password is not None else lab.users[lab.host(name).name][SERVICE_ACCOUNT],
        gateway_mode=GatewayMode.INTEGRATED,
        winrm_scheme=scheme,
        winrm_port=lab.winrm_port(name, scheme),  # type: ignore[arg-type]
        winrm_auth=auth,
        verify_tls=True,
        ca_bundle=lab.ca_pem.decode() if scheme == "https" else "",
    )
    for key, value in overrides.items():
        setattr(data, key, value)
    return data


def lab_spec_with_unencrypted_host() -> dict[str, Any]:
    """The demo lab plus IISPLAIN: a copy of IIS2022 whose WinRM service allows unencrypted traffic (and Basic) over
    plain HTTP, unlike the stock hosts, whose WinRM answers Basic only over HTTPS."""
    spec = copy.deepcopy(read_lab_file(LAB_FILE))
    template = next(h for h in spec["hosts"] if h["name"] == "IIS2022")
    plain = copy.deepcopy(template)
    plain.update(name="IISPLAIN", fqdn="iisplain.lab.test", address="127.10.0.23")
    plain["winrm"] = {**plain.get("winrm", {}), "auth": ["basic", "ntlm"], "allow_unencrypted": True}
    spec["hosts"].append(plain)
    return spec


@contextmanager
def redis_broker_in_use() -> Iterator[str]:
    """This process (and the workers given the URL) on the Redis broker of CLM_TEST_BROKER_URL, emptied first.

    kombu keeps producer pools in a process-wide registry keyed by the broker URL: after one test closes its pools,
    the next test with the same URL would get a pool over closed connections, so the registry is reset too."""
    url = broker_url()
    kombu.pools.reset()
    with use_broker(url, {}):
        from clm.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.client.flushdb()
        try:
            yield url
        finally:
            kombu.pools.reset()
