"""Vocabularies of devices, gateways and validation (field options follow the reference's Tables 1-5)."""

from django.db import models


class Vendor(models.TextChoices):
    MICROSOFT_IIS = "microsoft_iis", "Microsoft IIS"


class CertSync(models.TextChoices):
    """What the portal does with a device's certificates (reference Table 1, "Cert Sync")."""

    MANAGED = "managed", "Managed"  # config fetch + discovery; CLM actions allowed
    MONITORED = "monitored", "Monitored"  # config fetch + discovery; certificates read-only
    IGNORED = "ignored", "Ignored"  # config fetch only, no certificate discovery


class DeviceStatus(models.TextChoices):
    """The Server inventory's Status column. A validated device shows its Cert Sync value; a failed one says why."""

    PENDING = "pending", "Not validated yet"
    MANAGED = "managed", "Managed"
    MONITORED = "monitored", "Monitored"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"  # the host answered but something failed (authentication, TLS trust, an operation)
    UNRESOLVED = "unresolved", "Unresolved"  # the name does not resolve, or nothing answers


class CredentialType(models.TextChoices):
    """Device credential types (reference Table 2). External vaults carry a provider (vaults.choices.VaultProvider)."""

    MANUAL = "manual", "Manual entry"
    CREDENTIAL_LIST = "credential_list", "Credential List - Thumbprint"
    GATEWAY = "gateway", "Gateway credential"
    VAULT = "vault", "External vault"


class FolderCredentialMode(models.TextChoices):
    """Which credential opens the centralized file system location (reference Table 5)."""

    GATEWAY = "gateway", "Use gateway credential"
    NEW = "new", "New"
    DEVICE = "device", "Use device credential"


class FolderCredentialType(models.TextChoices):
    MANUAL = "manual", "Manual entry"
    CREDENTIAL_LIST = "credential_list", "Credential List - Thumbprint"
    VAULT = "vault", "External vault"


class WinrmScheme(models.TextChoices):
    HTTPS = "https", "HTTPS"
    HTTP = "http", "HTTP"


class WinrmAuth(models.TextChoices):
    NEGOTIATE = "negotiate", "Negotiate"
    NTLM = "ntlm", "NTLM"
    KERBEROS = "kerberos", "Kerberos"
    BASIC = "basic", "Basic"


class GatewayMode(models.TextChoices):
    """Reference Table 3: External = a gateway worker inside the customer's network; Integrated = the portal's own."""

    EXTERNAL = "external", "External"
    INTEGRATED = "integrated", "Integrated"


class GatewayType(models.TextChoices):
    POWERSHELL = "powershell", "PowerShell"
    WMI = "wmi", "WMI"


class GatewayLocation(models.TextChoices):
    REMOTE = "remote", "Remote"
    LOCAL_SYSTEM = "local_system", "LocalSystem"


class ValidationState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"


class StatusLogStep(models.TextChoices):
    """The four sections of the Device Status Log, in order."""

    COMMUNICATION = "communication", "Device communication"
    VERSION = "version", "Device version"
    INSTANCE = "instance", "Instance information"
    DISCOVERY = "discovery", "Certificate discovery from device"


class StepOutcome(models.TextChoices):
    OK = "ok", "OK"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    NOT_RUN = "not_run", "Not run"
