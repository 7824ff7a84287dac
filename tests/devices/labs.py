"""Running simulated IIS labs for the onboarding tests, and helpers that describe their hosts as device input.

Labs are relocated to a free 127.x.y.0/24 network with ephemeral WinRM ports, so parallel runs do not collide.
The `demo_lab` fixture lives in tests/devices/conftest.py (and tests/e2e/test_onboarding.py).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from devices.choices import CertSync, CredentialType, GatewayMode
from devices.services import DeviceInput
from iissim.lab import Lab
from iissim.labfile import read_lab_file

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
