"""IIS servers (devices), the Windows gateways that reach them, and the validation runs behind the Device Status Log.

Field names follow the reference's onboarding tables (1-5). A device's credential is one of: manual entry (kept
here, encrypted), an entry of the portal's credential list, the gateway's credential, or an external vault reference.
The same choices exist for the folder credential that opens a centralized file system location.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from clm.crypto import EncryptedBinaryField, EncryptedTextField
from devices.choices import (
    CertSync,
    CredentialType,
    DeviceStatus,
    FolderCredentialMode,
    FolderCredentialType,
    GatewayLocation,
    GatewayMode,
    GatewayType,
    ValidationState,
    Vendor,
    WinrmAuth,
    WinrmScheme,
)
from vaults.choices import VaultProvider

INTEGRATED_GATEWAY_NAME = "integrated-gateway"


class Gateway(models.Model):
    """A Windows gateway: the Celery queue a device's jobs are routed to (DESIGN.md §2).

    Integrated (exactly one, named `integrated-gateway`): the portal's own device workers, queue `devices`.
    External: a worker started inside another network with `manage.py run_gateway <name>`, queue `gw.<name>`.
    Its type (PowerShell / WMI), location (Remote / LocalSystem with FQDN and port), URL and client authentication
    certificate follow the reference's Table 3; only the PowerShell type can validate devices for now. The optional
    gateway credential is used by devices and folder credentials that choose "Gateway credential".
    """

    name = models.CharField(max_length=63, unique=True)
    mode = models.CharField(max_length=16, choices=GatewayMode.choices, default=GatewayMode.EXTERNAL)
    gateway_type = models.CharField(max_length=16, choices=GatewayType.choices, default=GatewayType.POWERSHELL)
    location = models.CharField(max_length=16, choices=GatewayLocation.choices, default=GatewayLocation.REMOTE)
    fqdn = models.CharField(max_length=255, blank=True, help_text="LocalSystem only: where the gateway runs.")
    port = models.PositiveIntegerField(null=True, blank=True, help_text="LocalSystem only.")
    url = models.CharField(max_length=500, blank=True, help_text="External only: the gateway endpoint's URL.")
    client_certificate = EncryptedBinaryField(null=True, blank=True, help_text="PFX, encrypted at rest.")
    client_certificate_password = EncryptedTextField(null=True, blank=True)
    client_certificate_subject = models.CharField(max_length=500, blank=True)
    client_certificate_thumbprint = models.CharField(max_length=40, blank=True)
    client_certificate_not_after = models.DateTimeField(null=True, blank=True)
    username = models.CharField(max_length=256, blank=True, help_text="Gateway credential: user name.")
    password = EncryptedTextField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["mode"], condition=Q(mode="integrated"), name="devices_gateway_one_integrated"
            ),
            models.CheckConstraint(
                condition=~Q(mode="integrated") | Q(name=INTEGRATED_GATEWAY_NAME),
                name="devices_gateway_integrated_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_integrated(self) -> bool:
        return self.mode == GatewayMode.INTEGRATED

    @property
    def queue(self) -> str:
        from clm.celery import gateway_queue

        return gateway_queue(None if self.is_integrated else self.name)

    @property
    def has_credential(self) -> bool:
        return bool(self.username and self.password)


class Device(models.Model):
    """An onboarded Microsoft IIS server: how to reach it (hostname, WinRM endpoint, credential, gateway), where its
    certificates live (the certificate store always; optionally one folder or share with a password vault and a
    folder credential), what was observed (facts, sites and bindings) and its status with the reason.

    Status: pending (never validated) -> managed | monitored | ignored (its Cert Sync, on success) | failed |
    unresolved, rewritten by each validation (DeviceValidation) that finishes after the last one applied.
    """

    name = models.CharField(max_length=128, unique=True, help_text="Server name")
    hostname = models.CharField(max_length=255, help_text="FQDN preferred; it must resolve from the gateway.")
    vendor = models.CharField(max_length=32, choices=Vendor.choices, default=Vendor.MICROSOFT_IIS)
    data_center = models.CharField(max_length=100, blank=True, db_index=True)
    cert_sync = models.CharField(max_length=16, choices=CertSync.choices, default=CertSync.MANAGED)

    # Credentials (Table 2)
    credential_type = models.CharField(max_length=20, choices=CredentialType.choices, default=CredentialType.MANUAL)
    username = models.CharField(max_length=256, blank=True)
    password = EncryptedTextField(null=True, blank=True)
    credential = models.ForeignKey(
        "vaults.Credential", null=True, blank=True, on_delete=models.PROTECT, related_name="devices"
    )
    vault_provider = models.CharField(max_length=20, choices=VaultProvider.choices, blank=True)
    vault_path = models.CharField(max_length=500, blank=True)
    vault_key = models.CharField(max_length=200, blank=True)

    # Windows gateway (Table 3)
    gateway = models.ForeignKey(Gateway, on_delete=models.PROTECT, related_name="devices")

    # WinRM endpoint
    winrm_scheme = models.CharField(max_length=8, choices=WinrmScheme.choices, default=WinrmScheme.HTTPS)
    winrm_port = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: 5986 for HTTPS, 5985 for HTTP.")
    winrm_auth = models.CharField(max_length=16, choices=WinrmAuth.choices, default=WinrmAuth.NEGOTIATE)
    verify_tls = models.BooleanField(default=True)
    ca_bundle = models.TextField(blank=True, help_text="PEM certificates trusted for the WinRM HTTPS listener.")
    allow_basic_over_http = models.BooleanField(default=False)

    # Certificate locations (Table 4): the store always; optionally one folder or share.
    certificate_store = models.BooleanField(default=True)
    file_system_path = models.CharField(max_length=500, blank=True)
    password_vault = models.ForeignKey(
        "vaults.PasswordVault", null=True, blank=True, on_delete=models.PROTECT, related_name="devices"
    )

    # Folder credential (Table 5)
    folder_credential_mode = models.CharField(
        max_length=16, choices=FolderCredentialMode.choices, default=FolderCredentialMode.DEVICE
    )
    folder_credential_type = models.CharField(
        max_length=20, choices=FolderCredentialType.choices, default=FolderCredentialType.MANUAL
    )
    folder_username = models.CharField(max_length=256, blank=True)
    folder_password = EncryptedTextField(null=True, blank=True)
    folder_credential = models.ForeignKey(
        "vaults.Credential", null=True, blank=True, on_delete=models.PROTECT, related_name="folder_devices"
    )
    folder_vault_provider = models.CharField(max_length=20, choices=VaultProvider.choices, blank=True)
    folder_vault_path = models.CharField(max_length=500, blank=True)
    folder_vault_key = models.CharField(max_length=200, blank=True)

    # Observed facts (written by validation)
    os_build = models.PositiveIntegerField(null=True, blank=True)
    os_caption = models.CharField(max_length=200, blank=True)
    os_version = models.CharField(max_length=50, blank=True)
    iis_version = models.CharField(max_length=50, blank=True)
    powershell_version = models.CharField(max_length=50, blank=True)
    reported_hostname = models.CharField(max_length=255, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    sites = models.JSONField(default=list, blank=True, help_text="Sites with their bindings, as last fetched.")
    http_sys = models.JSONField(default=list, blank=True, help_text="HTTP.sys SSL bindings, as last fetched.")
    config_fetched_at = models.DateTimeField(null=True, blank=True)

    # Status
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.PENDING, db_index=True)
    status_reason = models.TextField(blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    last_validation = models.ForeignKey(
        "DeviceValidation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_port(self) -> int:
        if self.winrm_port:
            return self.winrm_port
        return 5986 if self.winrm_scheme == WinrmScheme.HTTPS else 5985

    @property
    def file_system_enabled(self) -> bool:
        return bool(self.file_system_path)

    @property
    def file_system_is_share(self) -> bool:
        return self.file_system_path.replace("/", "\\").startswith("\\\\")

    @property
    def status_log(self) -> list[dict[str, Any]]:
        return list(self.last_validation.log) if self.last_validation is not None else []


class DeviceValidation(models.Model):
    """One validation of a device through its gateway: the job that ran it, the worker (Celery node) that ran it,
    the Device Status Log it wrote (four sections: communication, version, instance, discovery; each with outcome,
    detail and time) and the resulting status with its reason.

    States: queued -> running -> finished. A finished validation is the event row of the device's status change.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="validations")
    job = models.ForeignKey("clm.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=16, choices=ValidationState.choices, default=ValidationState.QUEUED)
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, blank=True)
    reason = models.TextField(blank=True)
    log = models.JSONField(default=list, blank=True)
    gateway_name = models.CharField(max_length=63, blank=True)
    queue = models.CharField(max_length=100, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="Celery node name of the worker that ran it.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Validation {self.pk} of {self.device_id} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state == ValidationState.FINISHED
