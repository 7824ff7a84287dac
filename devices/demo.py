"""The demo that `make run` starts: the simulated IIS lab (iissim/labs/demo.yaml) and the onboarding of its hosts.

The lab runs as a portal process and writes `<state dir>/lab.json` (hosts, WinRM ports, credentials, lab CA) once it
listens; the after-start step reads that file and onboards each host through the integrated gateway, so the Server
inventory shows them validated within a minute of start-up. `CLM_DEMO=0` turns both off; `CLM_DEMO_LAB_RELOCATE=auto`
moves the lab to a free 127.x.y.0/24 network with free WinRM ports.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

from clm.bootstrap import ProcessSpec, Say, after_start_step, portal_process
from devices.choices import CertSync, CredentialType, FolderCredentialMode, FolderCredentialType, GatewayMode
from devices.models import Device
from devices.services import DeviceInput, device_create, device_update
from vaults.models import Credential, PasswordVault
from vaults.services import credential_create, credential_update, password_vault_create, password_vault_update

logger = logging.getLogger(__name__)

DEMO_LAB_FILE = Path(settings.BASE_DIR) / "iissim" / "labs" / "demo.yaml"
DEMO_CREDENTIAL = "demo-lab-service-account"
DEMO_PASSWORD_VAULT = "demo-lab-pfx-passwords"
DEMO_DATA_CENTER = "demo-lab"
SERVICE_ACCOUNT = "LAB\\svc-thumbprint"


def demo_enabled() -> bool:
    return os.environ.get("CLM_DEMO", "1").strip().lower() not in {"0", "false", "no", "off"}


def demo_state_dir() -> Path:
    return Path(settings.DATA_DIR) / "iislab"


def demo_info_file() -> Path:
    return demo_state_dir() / "lab.json"


@portal_process
def demo_lab_process() -> ProcessSpec | None:
    """The demo lab process (python -m iissim); ready once it has written lab.json."""
    if not demo_enabled():
        return None
    info = demo_info_file()
    info.unlink(missing_ok=True)  # a stale file from the last run must not pass the ready check
    argv = [sys.executable, "-m", "iissim", "--lab", str(DEMO_LAB_FILE), "--state-dir", str(demo_state_dir())]
    relocate = os.environ.get("CLM_DEMO_LAB_RELOCATE", "").strip()
    if relocate:
        # Another network and free WinRM ports, so that two portals (or test runs) on one machine do not collide.
        argv += ["--relocate", relocate, "--ephemeral-winrm"]
    return ProcessSpec("iis-lab", argv, ready_check=info.exists)


def _pfx_passwords(lab_file: Path) -> list[str]:
    """The PFX passwords the demo lab's files use (what an administrator would keep in a password vault)."""
    from iissim.labfile import read_lab_file

    spec = read_lab_file(lab_file)
    found: list[str] = []
    items = [f for h in spec.get("hosts") or [] for f in h.get("files") or []]
    items += [f for s in spec.get("shares") or [] for f in s.get("files") or []]
    for item in items:
        password = (item.get("pfx") or {}).get("password")
        if password and password not in found:
            found.append(str(password))
    return found


def _host_password(host: dict[str, Any], user: str) -> str | None:
    for entry in host.get("users") or []:
        if str(entry.get("name", "")).lower() == user.lower():
            return str(entry.get("password") or "") or None
    return None


def demo_onboard(*, info: dict[str, Any], lab_file: Path = DEMO_LAB_FILE, validate: bool = True) -> list[Device]:
    """Onboard (or refresh) every host of a running lab described by its lab.json `info`: a credential-list entry
    for the lab's service account, a password vault with the lab's PFX passwords, and one device per host
    (HTTPS 5986, NTLM, the lab CA trusted). Idempotent: existing devices are updated and validated again."""
    hosts = info.get("hosts") or []
    password = next((p for p in (_host_password(h, SERVICE_ACCOUNT) for h in hosts) if p), None)
    if password is None:
        raise ValueError(f"the lab has no {SERVICE_ACCOUNT} account")
    credential = Credential.objects.filter(name=DEMO_CREDENTIAL).first()
    if credential is None:
        credential = credential_create(
            name=DEMO_CREDENTIAL,
            username=SERVICE_ACCOUNT,
            password=password,
            description="Service account of the simulated demo lab",
        )
    else:
        credential = credential_update(
            credential=credential,
            name=DEMO_CREDENTIAL,
            username=SERVICE_ACCOUNT,
            password=password,
            description=credential.description,
        )
    passwords = _pfx_passwords(lab_file) if lab_file.exists() else []
    vault = PasswordVault.objects.filter(name=DEMO_PASSWORD_VAULT).first()
    if passwords and vault is None:
        vault = password_vault_create(name=DEMO_PASSWORD_VAULT, passwords=passwords, description="Demo lab PFX files")
    elif passwords and vault is not None:
        vault = password_vault_update(vault=vault, name=vault.name, passwords=passwords, description=vault.description)
    shares = info.get("shares") or []
    onboarded = []
    for index, host in enumerate(hosts):
        winrm = host.get("winrm") or {}
        data = DeviceInput(
            name=str(host["name"]),
            hostname=str(host.get("address") or host.get("fqdn")),
            data_center=DEMO_DATA_CENTER,
            cert_sync=CertSync.MANAGED,
            credential_type=CredentialType.CREDENTIAL_LIST,
            credential=credential,
            gateway_mode=GatewayMode.INTEGRATED,
            winrm_scheme="https",
            winrm_port=int(winrm.get("https_port") or 5986),
            winrm_auth="ntlm",
            verify_tls=True,
            ca_bundle=str(info.get("ca_pem") or ""),
        )
        # One host shows a local folder location, another a share with its own folder credential.
        if index == 0 and vault is not None:
            data.file_system_path = "C:\\certs"
            data.password_vault = vault
        elif index == len(hosts) - 1 and shares and vault is not None:
            share = shares[0]
            data.file_system_path = str(share["unc"])
            data.password_vault = vault
            data.folder_credential_mode = FolderCredentialMode.NEW
            data.folder_credential_type = FolderCredentialType.MANUAL
            data.folder_username = str(share["username"])
            data.folder_password = str(share["password"])
        existing = Device.objects.filter(name__iexact=data.name).first()
        if existing is None:
            onboarded.append(device_create(data=data, validate=validate))
        else:
            onboarded.append(device_update(device=existing, data=data, validate=validate))
    return onboarded


@after_start_step(100)
def onboard_demo_hosts(say: Say) -> None:
    """After start-up: onboard the demo lab's hosts (their validations run on the portal's device worker)."""
    if not demo_enabled():
        return
    path = demo_info_file()
    if not path.exists():
        say("Demo: the IIS lab did not start, so no demo servers were onboarded (see its output above).")
        return
    info = json.loads(path.read_text())
    if info.get("winrm_error"):
        say(f"Demo: the IIS lab runs without WinRM ({info['winrm_error']}); onboarding skipped.")
        return
    try:
        devices = demo_onboard(info=info)
    except Exception as exc:  # the portal keeps running without its demo data
        logger.exception("demo onboarding failed")
        say(f"Demo: onboarding the lab's hosts failed: {exc}")
        return
    names = ", ".join(d.name for d in devices)
    say(f"Demo: onboarded {len(devices)} simulated IIS server(s) ({names}); validation runs now (Device Management).")
