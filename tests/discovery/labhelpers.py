"""The demo lab as discovery sees it: its hosts onboarded as devices with their folders and password vaults, and the
lab's own view of what each host holds (read straight from the simulator's state, independently of the portal's
discovery code) to compare discovery's results with.

IIS2016 reads C:\\certs (payroll.pfx opens with the vault); IIS2019 reads the share \\\\fs01.lab.test\\pki with the
share's folder credential and a vault that lacks the partner.p12 password (so that file is found but locked);
IIS2022 reads C:\\certs\\incoming with a vault that opens both of its files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from devices.choices import FolderCredentialMode, FolderCredentialType
from devices.models import Device
from devices.services import device_create
from iissim.lab import Lab
from tests.devices.labs import lab_device_input
from vaults.services import password_vault_create

SHARE = "\\\\fs01.lab.test\\pki"
SHARE_USER = "LAB\\svc-pki"
SHARE_PASSWORD = "Share-Pki-2025!"
FOLDERS = {"IIS2016": "C:\\certs", "IIS2019": SHARE, "IIS2022": "C:\\certs\\incoming"}
VAULTS = {
    "IIS2016": ["not-this-one", "Payr0ll-2025"],
    "IIS2019": ["Renew@l$2026"],
    "IIS2022": ["Partner-P12-pass", "Api-backup-1"],
}
LOCKED = {("IIS2019", SHARE + "\\renewals\\partner.p12")}


def onboard_demo(lab: Lab, *, hosts: tuple[str, ...] = ("IIS2016", "IIS2019", "IIS2022")) -> dict[str, Device]:
    """The lab's hosts as devices (not validated: discovery does not need it), with folder and vault."""
    devices = {}
    for name in hosts:
        vault = password_vault_create(name=f"{name} PFX passwords", passwords=VAULTS[name])
        extra: dict[str, Any] = {"file_system_path": FOLDERS[name], "password_vault": vault.pk}
        if FOLDERS[name] == SHARE:
            extra.update(
                folder_credential_mode=FolderCredentialMode.NEW,
                folder_credential_type=FolderCredentialType.MANUAL,
                folder_username=SHARE_USER,
                folder_password=SHARE_PASSWORD,
            )
        devices[name] = device_create(data=lab_device_input(lab, name, **extra), validate=False)
    return devices


@dataclass(frozen=True)
class Expected:
    """What a host holds, by thumbprint: store locations {(store, thumbprint)}, readable files {path: thumbprint},
    locked files, and bindings {(kind, site, info/endpoint, thumbprint)}."""

    store: set[tuple[str, str]]
    files: dict[str, str]
    locked: set[str]
    bound: set[str]

    @property
    def thumbprints(self) -> set[str]:
        return {t for _, t in self.store} | set(self.files.values())


def _thumb(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def expected_for(lab: Lab, name: str) -> Expected:
    """Read the simulator's state directly (its stores, files and shares) with cryptography's own PKCS#12 loader."""
    host = lab.host(name)
    state = host.state
    store = {
        (store_name, _thumb(cert.der))
        for store_name in ("My", "WebHosting")
        for cert in state.stores.get(store_name, {}).values()
    }
    folder = FOLDERS[name]
    if folder.startswith("\\\\"):
        share, _ = host.shares.resolve(folder)
        tree = share.files
    else:
        tree = state.files
    files: dict[str, str] = {}
    locked: set[str] = set()
    for item in tree.list(folder, ["*.pfx", "*.p12"], True):
        opened = None
        for password in VAULTS[name]:
            try:
                opened = pkcs12.load_pkcs12(item.content, password.encode())
                break
            except ValueError:
                continue
        if opened is None or opened.cert is None:
            locked.add(item.path)
            continue
        files[item.path] = _thumb(opened.cert.certificate.public_bytes(serialization.Encoding.DER))
    bound = set()
    for site in state.sites:
        for binding in site.bindings:
            if binding.certificate_hash:
                bound.add(binding.certificate_hash.upper())
        if site.ftp_ssl and site.ftp_ssl.certificate_hash:
            bound.add(site.ftp_ssl.certificate_hash.upper())
    for entry in state.http_sys.values():
        if entry.certificate_hash:
            bound.add(entry.certificate_hash.upper())
    return Expected(store=store, files=files, locked=locked, bound=bound)
