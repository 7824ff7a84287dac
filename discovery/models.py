"""Discovery: definitions (the reference's "Managed Devices Scan", Tables 6-10), their schedules, runs with per-device
state, discovery rules (filters on what was found), access control rules (certificate attributes -> group), and the
devices a user marked as favourites in the device picker."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from discovery.choices import (
    DeviceRunState,
    DiscoveryFrom,
    DiscoveryType,
    Ends,
    MoveToInventory,
    Occurrence,
    RunState,
    RunTrigger,
    RunType,
)


def _default_sources() -> list[str]:
    return ["certificate_store", "file_system"]


class CertificateFilter(models.Model):
    """Filters on a found certificate, shared by discovery rules and access control rules. Every filter that is set
    must match; an empty filter matches everything."""

    issuer_contains = models.CharField(max_length=255, blank=True, help_text="Part of the issuer's name.")
    subject_pattern = models.CharField(
        max_length=255, blank=True, help_text="Matches the common name or a SAN; * is a wildcard (*.example.com)."
    )
    key_types = models.JSONField(default=list, blank=True, help_text="Empty: any key type.")
    min_key_size = models.PositiveIntegerField(null=True, blank=True)
    max_key_size = models.PositiveIntegerField(null=True, blank=True)
    expires_within_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Only certificates expiring within this many days (expired included)."
    )
    location_pattern = models.CharField(
        max_length=500,
        blank=True,
        help_text="A store name (My, WebHosting) or a file path; * is a wildcard (C:\\Certs\\*.pfx).",
    )

    class Meta:
        abstract = True


class DiscoveryRule(CertificateFilter):
    """A named set of filters ("Associate Rule") a discovery applies to what it finds: certificates that do not match
    are not recorded."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AccessControlRule(CertificateFilter):
    """Maps certificate attributes to a certificate group. A discovery with "Use Access Control Rule" puts each new
    certificate in the group of the first enabled rule (lowest priority number first) that matches it; certificates
    no rule matches go to the discovery's group."""

    name = models.CharField(max_length=100, unique=True)
    priority = models.PositiveIntegerField(default=100)
    enabled = models.BooleanField(default=True)
    group = models.ForeignKey("certificates.CertificateGroup", on_delete=models.CASCADE, related_name="access_rules")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class Discovery(models.Model):
    """A discovery definition: what to scan (devices, sources, all or in-use certificates, a rule), how (batches,
    sequential with an interval, a time limit per device), what to do with what is found (move to inventory as
    Managed / Monitored or not at all, the group or access control rules), and when (on demand, or a schedule that
    django-celery-beat drives through `periodic_task`).

    A schedule: time zone, occurrence (daily / weekly on weekdays / monthly on the start date's day / yearly on the
    start date), time of day, start date, and an end (never, after N occurrences, on a date).
    """

    name = models.CharField(max_length=100, unique=True, help_text="Discovery Instance Name")
    description = models.TextField(blank=True, max_length=2000)
    run_type = models.CharField(max_length=16, choices=RunType.choices, default=RunType.ON_DEMAND)
    discovery_from = models.CharField(
        max_length=20, choices=DiscoveryFrom.choices, default=DiscoveryFrom.MANAGED_SERVERS
    )
    devices = models.ManyToManyField("devices.Device", blank=True, related_name="discoveries")
    discovery_type = models.CharField(max_length=10, choices=DiscoveryType.choices, default=DiscoveryType.ALL)
    sources = models.JSONField(default=_default_sources)
    batch_size = models.PositiveIntegerField(default=500, validators=[MinValueValidator(1), MaxValueValidator(10000)])
    sequential = models.BooleanField(default=False, help_text="Execute Batches Sequentially")
    interval_minutes = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(1440)], help_text="Interval Between Batches (minutes)"
    )
    device_time_limit = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(10), MaxValueValidator(3600)],
        help_text="Seconds one device may take before it is reported as timed out.",
    )
    rule = models.ForeignKey(DiscoveryRule, null=True, blank=True, on_delete=models.PROTECT, related_name="discoveries")
    move_to_inventory = models.CharField(
        max_length=12, choices=MoveToInventory.choices, default=MoveToInventory.MANAGED
    )
    group = models.ForeignKey(
        "certificates.CertificateGroup", null=True, blank=True, on_delete=models.PROTECT, related_name="discoveries"
    )
    use_access_control_rule = models.BooleanField(default=False)

    # Schedule (run_type = scheduled)
    time_zone = models.CharField(max_length=64, default="UTC")
    occurrence = models.CharField(max_length=10, choices=Occurrence.choices, blank=True)
    repeat_on = models.JSONField(default=list, blank=True, help_text="Weekday codes (mon ... sun) for weekly.")
    time = models.TimeField(null=True, blank=True)
    starts_on = models.DateField(null=True, blank=True)
    ends = models.CharField(max_length=8, choices=Ends.choices, default=Ends.NEVER)
    ends_after = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    ends_on = models.DateField(null=True, blank=True)
    occurrences_run = models.PositiveIntegerField(default=0, help_text="Scheduled runs started so far.")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="discovery"
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "discoveries"

    def __str__(self) -> str:
        return self.name


class DiscoveryRun(models.Model):
    """One execution of a discovery: a row per device (DiscoveryRunDevice) and the totals. The options are copied at
    start (`options`), so editing the definition does not change a run under way.

    States: queued -> running -> completed | failed (see RunState).
    """

    discovery = models.ForeignKey(Discovery, null=True, on_delete=models.SET_NULL, related_name="runs")
    discovery_name = models.CharField(max_length=100)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    state = models.CharField(max_length=12, choices=RunState.choices, default=RunState.QUEUED, db_index=True)
    options = models.JSONField(default=dict)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    batches_total = models.PositiveIntegerField(default=1)
    batches_started = models.PositiveIntegerField(default=0)
    devices_total = models.PositiveIntegerField(default=0)
    devices_done = models.PositiveIntegerField(default=0)
    devices_failed = models.PositiveIntegerField(default=0)
    devices_skipped = models.PositiveIntegerField(default=0)
    certificates_found = models.PositiveIntegerField(default=0, help_text="Distinct certificates recorded.")
    certificates_new = models.PositiveIntegerField(default=0)
    locations_added = models.PositiveIntegerField(default=0)
    locations_removed = models.PositiveIntegerField(default=0)
    bindings_found = models.PositiveIntegerField(default=0)
    locked_files = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.discovery_name} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (RunState.COMPLETED, RunState.FAILED)

    @property
    def percent(self) -> int:
        return 100 if not self.devices_total else int(self.devices_done * 100 / self.devices_total)


class DiscoveryRunDevice(models.Model):
    """One device in one run: its state, the reason of a failure (`error_kind` from the device layer: unreachable,
    auth_failed, tls_untrusted, timeout, operation_failed, protocol_error, ...), and what was found there.

    States: queued -> running -> completed | failed, or skipped (see DeviceRunState).
    """

    run = models.ForeignKey(DiscoveryRun, on_delete=models.CASCADE, related_name="device_rows")
    device = models.ForeignKey("devices.Device", null=True, on_delete=models.SET_NULL, related_name="discovery_rows")
    device_name = models.CharField(max_length=128)
    batch = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=DeviceRunState.choices, default=DeviceRunState.QUEUED)
    error_kind = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    sources = models.JSONField(default=dict, blank=True, help_text="Per source: read / failed with the reason.")
    certificates_found = models.PositiveIntegerField(default=0)
    certificates_new = models.PositiveIntegerField(default=0)
    locations_added = models.PositiveIntegerField(default=0)
    locations_removed = models.PositiveIntegerField(default=0)
    bindings_found = models.PositiveIntegerField(default=0)
    locked_files = models.PositiveIntegerField(default=0)
    filtered_out = models.PositiveIntegerField(default=0, help_text="Left out by the discovery type or rule.")
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "device_name"]
        constraints = [models.UniqueConstraint(fields=["run", "device"], name="discovery_run_device_once")]
        indexes = [models.Index(fields=["run", "state"], name="discovery_rundevice_state")]

    def __str__(self) -> str:
        return f"{self.device_name} in run {self.run_id} ({self.state})"

    @property
    def seconds(self) -> float | None:
        if self.started_at is None:
            return None
        from django.utils import timezone

        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()


class DeviceFavourite(models.Model):
    """A device a user marked as a favourite in the discovery device picker ("Add as Favorites")."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="device_favourites")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "device"], name="device_favourite_once")]

    def __str__(self) -> str:
        return f"{self.user_id} * {self.device_id}"
