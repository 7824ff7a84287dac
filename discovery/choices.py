"""Vocabularies of discovery (the reference's Tables 6-10)."""

from django.db import models


class RunType(models.TextChoices):
    """Table 6: Discovery Run Type."""

    ON_DEMAND = "on_demand", "On-demand"
    SCHEDULED = "scheduled", "Scheduled"


class DiscoveryFrom(models.TextChoices):
    """Table 9: Discovery From (only managed servers for IIS)."""

    MANAGED_SERVERS = "managed_servers", "Managed Servers"


class DiscoveryType(models.TextChoices):
    """Table 9: All Certificates, or Certificates in Use (bound to a site binding, an FTP site or an HTTP.sys entry)."""

    ALL = "all", "All Certificates"
    IN_USE = "in_use", "Certificates in Use"


class Source(models.TextChoices):
    """Where certificates are read on a device (its onboarding decides which exist)."""

    CERTIFICATE_STORE = "certificate_store", "Certificate store"
    FILE_SYSTEM = "file_system", "Centralized file system"


class MoveToInventory(models.TextChoices):
    """Table 10: Move Certificate to Inventory with Status."""

    DO_NOT_MOVE = "do_not_move", "Do not move"
    MANAGED = "managed", "Managed"
    MONITORED = "monitored", "Monitored"


class Occurrence(models.TextChoices):
    """Table 8: Occurrence Type."""

    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    YEARLY = "yearly", "Yearly"


class Weekday(models.TextChoices):
    MON = "mon", "Monday"
    TUE = "tue", "Tuesday"
    WED = "wed", "Wednesday"
    THU = "thu", "Thursday"
    FRI = "fri", "Friday"
    SAT = "sat", "Saturday"
    SUN = "sun", "Sunday"


WEEKDAY_ORDER = [d.value for d in Weekday]
# crontab day_of_week numbers (Sunday = 0) for each weekday code.
CRON_WEEKDAY = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


class Ends(models.TextChoices):
    """Table 8: Ends never, after N occurrences, or on a date."""

    NEVER = "never", "Never"
    AFTER = "after", "After"
    ON = "on", "On"


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "On demand"
    SCHEDULE = "schedule", "Schedule"


class RunState(models.TextChoices):
    """A run: queued -> running -> completed (every device done, at least one succeeded or none to do) | failed
    (every device failed)."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class DeviceRunState(models.TextChoices):
    """One device in a run: queued -> running -> completed | failed; skipped when its Cert Sync is Ignored."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


FINISHED_DEVICE_STATES = (DeviceRunState.COMPLETED, DeviceRunState.FAILED, DeviceRunState.SKIPPED)
