"""Vocabularies of application connectors, push and push validation (the reference's Tables 27-29 and "Connector
Behavior for IIS")."""

from __future__ import annotations

from django.db import models


class Pkcs12EncryptionChoice(models.TextChoices):
    AES256_SHA256 = "aes256_sha256", "AES-256 with SHA-256 (Windows Server 2019 and later)"
    TRIPLEDES_SHA1 = "tripledes_sha1", "TripleDES with SHA-1 (compatible with every Windows version)"


class Category(models.TextChoices):
    SERVER = "server", "Server"


class Vendor(models.TextChoices):
    IIS = "iis", "IIS"


class PushType(models.TextChoices):
    """Push Certificate: store or centralized file system only (device-name profile). Push and Bind Certificate:
    the store plus IIS site bindings (binding profiles)."""

    PUSH = "push", "Push Certificate"
    PUSH_AND_BIND = "push_and_bind", "Push and Bind Certificate"


class LocationType(models.TextChoices):
    CERTIFICATE_STORE = "certificate_store", "Certificate Store"
    FILE_SYSTEM = "file_system", "Centralized file system"


class StoreChoice(models.TextChoices):
    PERSONAL = "personal", "Personal store"
    WEB_HOSTING = "web_hosting", "Web hosting store"


STORE_NAMES = {StoreChoice.PERSONAL: "My", StoreChoice.WEB_HOSTING: "WebHosting"}


class BindType(models.TextChoices):
    UPDATE_CERTIFICATE = "update_certificate", "Update Certificate Only"
    UPDATE_BINDING = "update_binding", "Update Site Binding"
    CREATE_BINDING = "create_binding", "Create New Site Binding"


class ScriptLocation(models.TextChoices):
    NONE = "none", "No scripts"
    PORTAL = "portal", "In portal"
    DEVICE = "device", "In device"


class PostScriptFailure(models.TextChoices):
    """What a failing post-push script does to a push that verified: undo it, or keep it with a warning."""

    ROLLBACK = "rollback", "Roll back the push"
    WARN = "warn", "Keep the push and warn"


class SyncStatus(models.TextChoices):
    IN_SYNC = "in_sync", "In sync"
    OUT_OF_SYNC = "out_of_sync", "Out of sync"
    UNKNOWN = "unknown", "Unknown"


class ConnectorSource(models.TextChoices):
    MANUAL = "manual", "Added by a user"
    DISCOVERY = "discovery", "Created by discovery"


class TargetKind(models.TextChoices):
    """What a connector works on on one device: the device itself (push only), an existing site binding (its
    profile), or a site binding the push creates."""

    DEVICE = "device", "Device"
    PROFILE = "profile", "Site binding"
    NEW_BINDING = "new_binding", "New site binding"


class PushStep(models.TextChoices):
    """Where one device stands in a push or rollback work order. Recorded before and after every device operation,
    so that a run that resumes after a lost worker continues from the right place instead of pushing twice."""

    PREVIEW = "preview", "Preview pending"
    REFUSED = "refused", "Refused by the preview"
    READY = "ready", "Ready"
    PRE_SCRIPT_DONE = "pre_script_done", "Pre-push script done"
    PUSHING = "pushing", "Pushing"
    PUSHED = "pushed", "Pushed, not verified"
    VERIFIED = "verified", "Verified over TLS"
    POST_SCRIPT_DONE = "post_script_done", "Post-push script done"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed (nothing changed)"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ROLLBACK_FAILED = "rollback_failed", "Rollback failed"


FINISHED_STEPS = (
    PushStep.COMPLETED,
    PushStep.FAILED,
    PushStep.ROLLED_BACK,
    PushStep.ROLLBACK_FAILED,
    PushStep.REFUSED,
)
FAILED_STEPS = (PushStep.FAILED, PushStep.ROLLED_BACK, PushStep.ROLLBACK_FAILED, PushStep.REFUSED)
# Steps after which the host holds the pushed certificate (a rollback has something to undo).
CHANGED_STEPS = (PushStep.PUSHED, PushStep.VERIFIED, PushStep.POST_SCRIPT_DONE, PushStep.COMPLETED)


class CheckSource(models.TextChoices):
    PUSH = "push", "After a push"
    ROLLBACK = "rollback", "After a rollback"
    SWEEP = "sweep", "Scheduled validation"


class SweepState(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


# IIS binding sslFlags bits (iis-peers.md §4) and the Windows build each first appears on.
SSL_SNI = 1
SSL_CCS = 2
SSL_FLAG_NAMES = {
    1: "SNI",
    2: "Centralized Certificate Store",
    4: "Disable HTTP/2",
    8: "Disable OCSP stapling",
    16: "Disable QUIC",
    32: "Disable TLS 1.3 over TCP",
    64: "Disable legacy TLS",
}
SSL_FLAGS_BY_BUILD = ((20348, 127), (17763, 15), (0, 3))


def ssl_flags_mask_for_build(build: int | None) -> int:
    """The sslFlags bits a Windows build accepts (SNI and CCS everywhere; 4/8 from 2019; 16/32/64 from 2022)."""
    for first_build, mask in SSL_FLAGS_BY_BUILD:
        if (build or 0) >= first_build:
            return mask
    return 3
