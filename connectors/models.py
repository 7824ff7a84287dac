"""Application connectors (certificate -> IIS devices), the progress of each push on each device, the endpoints that
push validation checks over TLS with every check it made, and the portal-wide settings that govern pushes."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from clm.crypto import EncryptedTextField
from connectors.choices import (
    STORE_NAMES,
    BindType,
    Category,
    CheckSource,
    ConnectorSource,
    LocationType,
    Pkcs12EncryptionChoice,
    PostScriptFailure,
    PushStep,
    PushType,
    ScriptLocation,
    StoreChoice,
    SweepState,
    SyncStatus,
    TargetKind,
    Vendor,
)


class GeneralSettings(models.Model):
    """Portal-wide settings (one row). `pkcs12_encryption` applies to hosts from build 17763 on; older hosts always
    get TripleDES-SHA1, whatever this says (they cannot import anything else)."""

    pkcs12_encryption = models.CharField(
        max_length=20, choices=Pkcs12EncryptionChoice.choices, default=Pkcs12EncryptionChoice.AES256_SHA256
    )
    push_validation_interval_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(5), MaxValueValidator(10080)],
        help_text="How often every pushed endpoint is checked over TLS.",
    )
    push_validation_concurrency = models.PositiveIntegerField(
        default=200,
        validators=[MinValueValidator(1), MaxValueValidator(2000)],
        help_text="TLS handshakes in flight at once during the validation sweep.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "general settings"

    def __str__(self) -> str:
        return "General settings"


class AppConnector(models.Model):
    """An application connector: how one certificate is pushed to IIS devices (the reference's Tables 27-29).

    Push Certificate puts it in a store (Personal / Web Hosting) or writes it to a centralized file system (folder
    or share, as `<host>.pfx`); Push and Bind Certificate also changes site bindings (update the certificate only,
    update the binding, or create a binding). What it works on, per device, is in `targets`. Secrets: only the
    password of PFX files written to a file system (encrypted at rest); a store push uses a fresh random password.

    `sync_status`: unknown -> in_sync | out_of_sync, rewritten after every discovery of its devices and every
    validation of its endpoints (connectors.sync).
    """

    certificate = models.ForeignKey("certificates.Certificate", on_delete=models.CASCADE, related_name="app_connectors")
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True, max_length=2000)
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.SERVER)
    vendor = models.CharField(max_length=16, choices=Vendor.choices, default=Vendor.IIS)
    push_type = models.CharField(max_length=16, choices=PushType.choices, default=PushType.PUSH_AND_BIND)
    http_sites = models.BooleanField(default=False, help_text="Offer only the profiles of HTTP sites.")
    location_type = models.CharField(
        max_length=20, choices=LocationType.choices, default=LocationType.CERTIFICATE_STORE
    )
    store = models.CharField(max_length=16, choices=StoreChoice.choices, default=StoreChoice.PERSONAL)
    file_path = models.CharField(max_length=500, blank=True, help_text="Folder or share of the file system.")
    file_password = EncryptedTextField(null=True, blank=True, help_text="Password of the PFX files written there.")
    friendly_name = models.CharField(max_length=255, blank=True)
    push_chain = models.BooleanField(default=False, help_text="Push the root and intermediate certificates too.")
    bind_type = models.CharField(max_length=20, choices=BindType.choices, blank=True)
    script_location = models.CharField(max_length=8, choices=ScriptLocation.choices, default=ScriptLocation.NONE)
    pre_script_name = models.CharField(max_length=255, blank=True)
    pre_script_path = models.CharField(max_length=500, blank=True)
    pre_script_text = models.TextField(blank=True, max_length=100_000)
    post_script_name = models.CharField(max_length=255, blank=True)
    post_script_path = models.CharField(max_length=500, blank=True)
    post_script_text = models.TextField(blank=True, max_length=100_000)
    post_script_failure = models.CharField(
        max_length=10, choices=PostScriptFailure.choices, default=PostScriptFailure.ROLLBACK
    )
    overwrite = models.BooleanField(default=False)
    push_automatically = models.BooleanField(default=False)
    secure_push = models.BooleanField(default=True)
    all_or_nothing = models.BooleanField(default=False, help_text="Roll back every device when one fails.")
    remove_previous = models.BooleanField(
        default=False, help_text="After a verified push, remove the certificate it replaced if nothing uses it."
    )
    source = models.CharField(max_length=10, choices=ConnectorSource.choices, default=ConnectorSource.MANUAL)
    sync_status = models.CharField(max_length=12, choices=SyncStatus.choices, default=SyncStatus.UNKNOWN)
    sync_reason = models.CharField(max_length=500, blank=True)
    sync_checked_at = models.DateTimeField(null=True, blank=True)
    last_push = models.JSONField(default=dict, blank=True, help_text="Summary of the last push work order.")
    last_validation = models.JSONField(default=dict, blank=True, help_text="{ok, endpoints, at} of the last check.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["certificate_id", "name"]
        constraints = [models.UniqueConstraint(fields=["certificate", "name"], name="connector_name_per_certificate")]
        indexes = [models.Index(fields=["certificate", "sync_status"], name="connector_cert_sync")]

    def __str__(self) -> str:
        return self.name

    @property
    def store_name(self) -> str:
        return STORE_NAMES[StoreChoice(self.store)]

    @property
    def binds(self) -> bool:
        return self.push_type == PushType.PUSH_AND_BIND

    @property
    def has_scripts(self) -> bool:
        return self.script_location != ScriptLocation.NONE


class ConnectorTarget(models.Model):
    """What a connector works on on one device: the device itself (Push Certificate: the device-name profile), an
    existing site binding (its profile, e.g. `MS IIS::Shop::*:443:shop.lab.test:CS:(SNI)`), or a binding to create.

    For an update of a binding, `new_*` hold the changed address, port and host (empty: unchanged) and
    `ssl_flags_set` / `ssl_flags_clear` the sslFlags bits to set or clear (other bits are kept).
    """

    connector = models.ForeignKey(AppConnector, on_delete=models.CASCADE, related_name="targets")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="connector_targets")
    kind = models.CharField(max_length=12, choices=TargetKind.choices)
    profile = models.CharField(max_length=600)
    site = models.CharField(max_length=255, blank=True)
    protocol = models.CharField(max_length=16, blank=True)
    ip = models.CharField(max_length=64, blank=True, help_text="'*', an IPv4 address or an IPv6 address (no brackets).")
    port = models.PositiveIntegerField(null=True, blank=True)
    host = models.CharField(max_length=255, blank=True)
    sni = models.BooleanField(default=False)
    new_ip = models.CharField(max_length=64, blank=True)
    new_port = models.PositiveIntegerField(null=True, blank=True)
    new_host = models.CharField(max_length=255, blank=True)
    ssl_flags_set = models.PositiveIntegerField(default=0)
    ssl_flags_clear = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["device__name", "profile"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "device", "profile"], name="connector_target_unique")
        ]

    def __str__(self) -> str:
        return self.profile


class PushDevice(models.Model):
    """One device's part of a push (or rollback) work order, and the durable record of where it stands.

    Steps (connectors.choices.PushStep): preview -> ready | refused; ready -> pre_script_done -> pushing -> pushed ->
    verified -> post_script_done -> completed; failures end in failed (nothing changed), rolled_back (changed, then
    restored from the snapshot and the restore verified) or rollback_failed. `pushing` is written before the device
    operation and `pushed` (with the snapshot) after it, so a run that resumes after a lost worker reconciles with
    the host instead of pushing twice. A rollback order's rows point at the push rows they undo (`undoes`).
    The snapshot holds binding and HTTP.sys settings, never key material.
    """

    work_order = models.ForeignKey("workorders.WorkOrder", on_delete=models.CASCADE, related_name="push_devices")
    connector = models.ForeignKey(AppConnector, on_delete=models.CASCADE, related_name="push_devices")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="push_devices")
    undoes = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="undone_by")
    step = models.CharField(max_length=20, choices=PushStep.choices, default=PushStep.PREVIEW)
    thumbprint = models.CharField(max_length=40, blank=True, help_text="The certificate pushed (SHA-1).")
    preview = models.JSONField(default=dict, blank=True)
    refusals = models.JSONField(default=list, blank=True)
    snapshot = models.JSONField(null=True, blank=True, help_text="What restore needs to undo the push.")
    snapshot_source = models.CharField(max_length=16, blank=True, help_text="host, or rebuilt from the preview.")
    result = models.JSONField(default=dict, blank=True)
    evidence = models.JSONField(default=list, blank=True, help_text="TLS checks after the push and the restore.")
    operations = models.JSONField(default=list, blank=True, help_text="Device operations run, in order.")
    round_trips = models.PositiveIntegerField(default=0, help_text="WS-Management requests sent.")
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    previewed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["work_order_id", "device__name"]
        constraints = [models.UniqueConstraint(fields=["work_order", "device"], name="push_device_per_order")]
        indexes = [models.Index(fields=["connector", "step"], name="push_device_connector_step")]

    def __str__(self) -> str:
        return f"{self.work_order_id}/{self.device_id}: {self.step}"


class ConnectorEndpoint(models.Model):
    """One ip:port[:host] where a verified push left a connector's certificate: push validation checks it over TLS
    (`address` is where the portal connects; `host` the SNI name, empty for a non-SNI binding) and keeps its last
    result here; every check is also an EndpointCheck row."""

    connector = models.ForeignKey(AppConnector, on_delete=models.CASCADE, related_name="endpoints")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="connector_endpoints")
    site = models.CharField(max_length=255, blank=True)
    address = models.CharField(max_length=255)
    ip = models.CharField(max_length=64)
    port = models.PositiveIntegerField()
    host = models.CharField(max_length=255, blank=True)
    expected_thumbprint = models.CharField(max_length=40)
    active = models.BooleanField(default=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_ok = models.BooleanField(null=True, blank=True)
    last_served_thumbprint = models.CharField(max_length=40, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["device_id", "port", "host"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "device", "ip", "port", "host"], name="connector_endpoint")
        ]
        indexes = [models.Index(fields=["active", "last_ok"], name="endpoint_active_ok")]

    def __str__(self) -> str:
        return f"{self.address}:{self.port}{f' ({self.host})' if self.host else ''}"


class ValidationSweep(models.Model):
    """One run of push validation over the endpoints behind one gateway: running -> completed | failed."""

    gateway = models.ForeignKey("devices.Gateway", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    trigger = models.CharField(max_length=10, default="beat")
    state = models.CharField(max_length=10, choices=SweepState.choices, default=SweepState.RUNNING)
    total = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Sweep {self.pk} ({self.state})"


class EndpointCheck(models.Model):
    """One TLS comparison of what an endpoint served with what it should serve: right after a push (or rollback)
    or in a validation sweep. Append-only; the Push Validation Report counts these."""

    connector = models.ForeignKey(AppConnector, on_delete=models.CASCADE, related_name="checks")
    device = models.ForeignKey("devices.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    endpoint = models.ForeignKey(
        ConnectorEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="checks"
    )
    work_order = models.ForeignKey(
        "workorders.WorkOrder", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sweep = models.ForeignKey(ValidationSweep, null=True, blank=True, on_delete=models.SET_NULL, related_name="checks")
    source = models.CharField(max_length=10, choices=CheckSource.choices)
    site = models.CharField(max_length=255, blank=True)
    address = models.CharField(max_length=255)
    ip = models.CharField(max_length=64, blank=True)
    port = models.PositiveIntegerField()
    host = models.CharField(max_length=255, blank=True)
    expected_thumbprint = models.CharField(max_length=40, blank=True)
    served_thumbprint = models.CharField(max_length=40, blank=True)
    ok = models.BooleanField()
    error = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["ok", "at"], name="check_ok_at")]

    def __str__(self) -> str:
        return f"{self.address}:{self.port} {'ok' if self.ok else 'failed'}"
