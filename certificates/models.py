"""The inventory: certificates, their private keys, groups and the policies groups apply, where each certificate was
found (locations) and what uses it there (bindings), and the inventory's saved filters.

Work orders and connectors point at `Certificate`; discovery writes locations and bindings in bulk.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from certificates.choices import (
    BindingKind,
    CertificateSource,
    CertificateStatus,
    HashFunction,
    InventoryKind,
    KeyLocation,
    KeyType,
    LocationKind,
    LocationState,
)
from clm.crypto import EncryptedBinaryField


def _default_key_types() -> list[str]:
    return ["rsa", "ec"]


def _default_rsa_sizes() -> list[int]:
    return [2048, 3072, 4096]


def _default_ec_curves() -> list[str]:
    return ["P-256", "P-384"]


def _default_hashes() -> list[str]:
    return ["sha256", "sha384", "sha512"]


class Policy(models.Model):
    """Rules a certificate group applies: allowed key types and sizes, hash functions, maximum validity, the CSR
    defaults that pre-fill enrollment (O, OU, L, ST, C) and how many approval levels its work orders need (0-2)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    allowed_key_types = models.JSONField(default=_default_key_types)
    allowed_rsa_sizes = models.JSONField(default=_default_rsa_sizes)
    allowed_ec_curves = models.JSONField(default=_default_ec_curves)
    allowed_hashes = models.JSONField(default=_default_hashes)
    max_validity_days = models.PositiveIntegerField(default=397, validators=[MinValueValidator(1)])
    default_key_type = models.CharField(max_length=10, choices=KeyType.choices, default=KeyType.RSA)
    default_key_size = models.PositiveIntegerField(default=2048)
    default_hash = models.CharField(max_length=10, choices=HashFunction.choices, default=HashFunction.SHA256)
    organization = models.CharField(max_length=64, blank=True)
    organizational_unit = models.CharField(max_length=64, blank=True)
    locality = models.CharField(max_length=128, blank=True)
    state = models.CharField(max_length=128, blank=True)
    country = models.CharField(max_length=2, blank=True)
    approval_levels = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(2)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name


class CertificateGroup(models.Model):
    """A set of certificates that share a policy, access rules and automation switches. Exactly one group is the
    default; wherever an API request takes `group`, null means the default group."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="groups")
    is_default = models.BooleanField(default=False)
    renew_automatically = models.BooleanField(default=False)
    regenerate_automatically = models.BooleanField(default=False)
    push_automatically = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="one_default_certificate_group",
                violation_error_message="Only one certificate group can be the default.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Certificate(models.Model):
    """One X.509 certificate, deduplicated by its SHA-256 fingerprint, with its parsed fields.

    `status` is the reference's inventory status (Managed / Monitored). `parent` is the certificate this one renewed
    or replaced. `attributes` holds custom key/values (filterable in the inventory).
    """

    # Unique and indexed through Meta (not unique=/db_index=), which on PostgreSQL would add a second, LIKE-only
    # index (varchar_pattern_ops) to each: nothing searches them by prefix, and every index costs discovery's inserts.
    sha256 = models.CharField(max_length=64, help_text="SHA-256 fingerprint, lower-case hex.")
    thumbprint = models.CharField(max_length=40, help_text="SHA-1 thumbprint, upper-case hex.")
    der = models.BinaryField()
    common_name = models.CharField(max_length=255, blank=True)
    subject = models.TextField(blank=True)
    issuer = models.TextField(blank=True)
    issuer_common_name = models.CharField(max_length=255, blank=True)
    serial = models.CharField(max_length=64, help_text="Serial number, upper-case hex.")
    sans = models.JSONField(default=dict, blank=True, help_text='{"dns": [], "ip": [], "email": [], "uri": []}')
    key_type = models.CharField(max_length=10, choices=KeyType.choices)
    key_size = models.PositiveIntegerField()
    signature_hash = models.CharField(max_length=16, blank=True)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    is_ca = models.BooleanField(default=False)
    self_signed = models.BooleanField(default=False)
    extended_key_usage = models.JSONField(default=list, blank=True, help_text="EKU names, e.g. serverAuth.")
    is_client = models.BooleanField(default=False, help_text="clientAuth-only EKU: listed under Inventory > Client.")
    status = models.CharField(max_length=16, choices=CertificateStatus.choices, default=CertificateStatus.MONITORED)
    source = models.CharField(max_length=16, choices=CertificateSource.choices, default=CertificateSource.DISCOVERED)
    # No index of their own: cert_group_expiry starts with group, and cert_parent holds only the rows with a parent.
    group = models.ForeignKey(
        CertificateGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="certificates",
        db_index=False,
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children", db_index=False
    )
    attributes = models.JSONField(default=dict, blank=True)
    chain_pem = models.TextField(blank=True, help_text="Issuer certificates (PEM), leaf excluded, nearest first.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Kept by discovery's bulk writes so that the million-row inventory can filter and sort on them without joins.
    location_count = models.PositiveIntegerField(default=0, help_text="Locations where it was found.")
    binding_count = models.PositiveIntegerField(default=0, help_text="Bindings that use it (in use when > 0).")
    search_text = models.TextField(blank=True, help_text="Lower-case CN and SANs, for the inventory's free text.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["sha256"], name="cert_sha256_unique")]
        # Each index is paid by every certificate discovery inserts: only those the inventory's queries use. On
        # PostgreSQL one trigram index (migrations 0003, 0005) serves both the free text and the common-name filter.
        indexes = [
            models.Index(fields=["thumbprint"], name="cert_thumbprint"),
            models.Index(fields=["parent"], condition=Q(parent__isnull=False), name="cert_parent"),
            models.Index(fields=["status", "not_after", "id"], name="cert_status_expiry"),
            models.Index(fields=["group", "not_after", "id"], name="cert_group_expiry"),
            models.Index(fields=["not_after", "id"], name="cert_expiry"),
            models.Index(fields=["common_name", "id"], name="cert_cn"),
            models.Index(fields=["issuer_common_name", "id"], name="cert_issuer"),
            models.Index(fields=["is_client", "status", "not_after", "id"], name="cert_kind_status_expiry"),
            models.Index(fields=["is_client", "status", "id"], name="cert_kind_status_id"),
        ]

    def __str__(self) -> str:
        return f"{self.common_name or self.subject} ({self.thumbprint[:8]})"


class PrivateKey(models.Model):
    """A private key: encrypted PKCS#8 in the portal, a handle on an HSM, or "held on the endpoint".

    A key generated for a CSR exists before its certificate; `certificate` is set when the issued certificate
    arrives. Reading the PKCS#8 (a download) must write an audit event.
    """

    certificate = models.OneToOneField(
        Certificate, null=True, blank=True, on_delete=models.CASCADE, related_name="private_key"
    )
    location = models.CharField(max_length=16, choices=KeyLocation.choices, default=KeyLocation.PORTAL)
    key_type = models.CharField(max_length=10, choices=KeyType.choices)
    key_size = models.PositiveIntegerField()
    pkcs8 = EncryptedBinaryField(null=True, blank=True, help_text="DER PKCS#8, encrypted at rest.")
    hsm_handle = models.CharField(max_length=255, blank=True)
    public_key_sha256 = models.CharField(
        max_length=64, db_index=True, help_text="SHA-256 of the SubjectPublicKeyInfo DER: matches key to cert."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.key_type.upper()} {self.key_size} key ({self.location})"


class CertificateLocation(models.Model):
    """Where discovery found a certificate on a device: a certificate store (LocalMachine\\My, WebHosting) or a
    .pfx/.p12 file in the device's folder or share.

    `key` is the location's identity on its device ("store:My:<thumbprint>" or "file:<lower-case path>"): reruns
    upsert on (device, key), and a location not seen on the host any more is deleted. A file that no candidate
    password opens is kept with state Locked and no certificate, so it is reported rather than dropped.
    """

    # No single-column indexes: the composite ones below start with each foreign key, and every index costs discovery's
    # bulk writes.
    device = models.ForeignKey(
        "devices.Device", on_delete=models.CASCADE, related_name="certificate_locations", db_index=False
    )
    certificate = models.ForeignKey(
        Certificate, null=True, blank=True, on_delete=models.CASCADE, related_name="locations", db_index=False
    )
    kind = models.CharField(max_length=8, choices=LocationKind.choices)
    key = models.CharField(max_length=1100)
    store = models.CharField(max_length=32, blank=True, help_text="Store name (My, WebHosting) for store locations.")
    path = models.CharField(max_length=1024, blank=True, help_text="File path (local or UNC) for file locations.")
    state = models.CharField(max_length=12, choices=LocationState.choices, default=LocationState.OK)
    error = models.CharField(max_length=500, blank=True)
    friendly_name = models.CharField(max_length=255, blank=True)
    has_private_key = models.BooleanField(default=False)
    key_provider = models.CharField(max_length=255, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    file_size = models.PositiveIntegerField(null=True, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["device_id", "kind", "store", "path"]
        constraints = [models.UniqueConstraint(fields=["device", "key"], name="certificate_location_device_key")]
        indexes = [
            models.Index(fields=["certificate", "device"], name="location_cert_device"),
            models.Index(fields=["device", "state"], name="location_device_state"),
            # The inventory's "on one device" filter: an index-only scan of the device's certificate ids.
            models.Index(fields=["device", "certificate"], name="location_device_cert"),
        ]

    def __str__(self) -> str:
        return f"{self.store or self.path} on device {self.device_id}"

    @property
    def where(self) -> str:
        return f"Cert:\\LocalMachine\\{self.store}" if self.kind == LocationKind.STORE else self.path


class CertificateBinding(models.Model):
    """Something on a device that uses a certificate from one of its store locations: an IIS site binding, an FTP
    site's SSL setting, or an HTTP.sys SSL binding no site owns. Together they decide "certificates in use".

    `key` identifies the binding on its device ("site:<site>:<protocol>:<binding information>", "ftp:<site>",
    "http_sys:<kind>:<endpoint>"); reruns upsert on (device, key) and delete what the host no longer has.
    """

    # No index of its own: the (device, key) constraint starts with it.
    device = models.ForeignKey(
        "devices.Device", on_delete=models.CASCADE, related_name="certificate_bindings", db_index=False
    )
    location = models.ForeignKey(CertificateLocation, on_delete=models.CASCADE, related_name="bindings")
    kind = models.CharField(max_length=10, choices=BindingKind.choices)
    key = models.CharField(max_length=900)
    site_name = models.CharField(max_length=255, blank=True)
    site_id = models.PositiveIntegerField(null=True, blank=True)
    site_state = models.CharField(max_length=20, blank=True)
    protocol = models.CharField(max_length=16, blank=True)
    binding_information = models.CharField(max_length=500, blank=True)
    ip = models.CharField(max_length=64, blank=True, help_text="'*', an IPv4 address or an IPv6 address (no brackets).")
    port = models.PositiveIntegerField(null=True, blank=True)
    host = models.CharField(max_length=255, blank=True)
    ssl_flags = models.PositiveIntegerField(default=0)
    sni = models.BooleanField(default=False)
    http_sys_kind = models.CharField(max_length=16, blank=True)
    http_sys_endpoint = models.CharField(max_length=300, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["site_name", "port", "host"]
        constraints = [models.UniqueConstraint(fields=["device", "key"], name="certificate_binding_device_key")]

    def __str__(self) -> str:
        return self.key


class SavedFilter(models.Model):
    """A named inventory filter a user saved (the query string of the Server or Client list)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters")
    kind = models.CharField(max_length=8, choices=InventoryKind.choices)
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "kind", "name"], name="saved_filter_unique_name")]

    def __str__(self) -> str:
        return self.name
