"""CA accounts, the built-in CA, requests sent to CAs, and enrollments (a certificate's CA connector)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from clm.crypto import EncryptedBinaryField, EncryptedTextField
from enrollment.choices import CARequestStatus, CsrSource, RevocationReason

DAYS_BEFORE_EXPIRY = [MinValueValidator(1), MaxValueValidator(120)]


class CAAccount(models.Model):
    """An account on a certificate authority: which CA module talks to it (`ca`, a name in the CA registry) and its
    non-secret settings. The built-in CA's account is created at set-up."""

    name = models.CharField(max_length=100, unique=True)
    ca = models.CharField(max_length=32, help_text="Name of the CA module (enrollment.ca registry).")
    description = models.TextField(blank=True, max_length=2000)
    enabled = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True, help_text="Non-secret settings of the CA module.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "CA account"

    def __str__(self) -> str:
        return self.name


class BuiltinCA(models.Model):
    """The portal's own two-tier CA behind one CA account: a root and an issuing CA, their keys encrypted at rest
    (PKCS#8 DER), and the CRLs each publishes (DER, numbered, served at a portal URL)."""

    account = models.OneToOneField(CAAccount, on_delete=models.CASCADE, related_name="builtin")
    root_certificate_pem = models.TextField()
    root_key = EncryptedBinaryField()
    issuing_certificate_pem = models.TextField()
    issuing_key = EncryptedBinaryField()
    public_url = models.CharField(max_length=300, help_text="Portal URL that CRL distribution points start with.")
    root_crl_number = models.PositiveBigIntegerField(default=0)
    root_crl_der = models.BinaryField(null=True, blank=True)
    root_crl_next_update = models.DateTimeField(null=True, blank=True)
    issuing_crl_number = models.PositiveBigIntegerField(default=0)
    issuing_crl_der = models.BinaryField(null=True, blank=True)
    issuing_crl_next_update = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "built-in CA"

    def __str__(self) -> str:
        return f"Built-in CA of {self.account}"


class CARequest(models.Model):
    """A CSR handed to a CA for one work order: the idempotency record (`request_ref` is the work order id, so a
    re-run gets the same certificate instead of a second one), the CA's own request id while it is pending, and the
    issued certificate's serial (for revocation and the CRL)."""

    account = models.ForeignKey(CAAccount, on_delete=models.PROTECT, related_name="requests")
    request_ref = models.CharField(max_length=64)
    ca_request_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=CARequestStatus.choices, default=CARequestStatus.PENDING)
    template = models.CharField(max_length=32, blank=True)
    serial = models.CharField(max_length=64, blank=True, db_index=True, help_text="Upper-case hex.")
    certificate_der = models.BinaryField(null=True, blank=True)
    chain_pem = models.TextField(blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=32, choices=RevocationReason.choices, blank=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["account", "request_ref"], name="one_ca_request_per_ref")]

    def __str__(self) -> str:
        return f"{self.account} {self.request_ref} ({self.status})"


class Enrollment(models.Model):
    """A request for a certificate from a CA account, and afterwards the certificate's CA connector (reference
    Tables 11, 15-18): group, CA details and automation settings, how the CSR was made, the CSR parameters, custom
    attributes and generic fields. Its work orders act on it; `certificate` is set when the CA issues.

    The challenge password is encrypted at rest and never leaves the portal except inside the CSR.
    """

    group = models.ForeignKey("certificates.CertificateGroup", on_delete=models.PROTECT, related_name="+")
    ca_account = models.ForeignKey(CAAccount, on_delete=models.PROTECT, related_name="enrollments")
    certificate_type = models.CharField(max_length=32, help_text="Template of the CA (server, client).")
    connector_name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    renew_automatically = models.BooleanField(default=False)
    renew_days_before = models.PositiveSmallIntegerField(default=30, validators=DAYS_BEFORE_EXPIRY)
    regenerate_automatically = models.BooleanField(default=False)
    regenerate_days_before = models.PositiveSmallIntegerField(default=30, validators=DAYS_BEFORE_EXPIRY)
    reenroll_automatically = models.BooleanField(default=False)
    reenroll_days_before = models.PositiveSmallIntegerField(default=30, validators=DAYS_BEFORE_EXPIRY)
    csr_source = models.CharField(max_length=16, choices=CsrSource.choices)
    csr_pem = models.TextField()
    private_key = models.ForeignKey(
        "certificates.PrivateKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    params = models.JSONField(
        default=dict,
        help_text="CSR parameters: common_name, sans, organization, ..., key_type, key_size, hash, validity.",
    )
    challenge_password = EncryptedTextField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Custom attributes copied to the certificate.")
    vendor_certificate_id = models.CharField(
        max_length=200, blank=True, help_text="Certificate ID (Table 18): the common name unless the user changed it."
    )
    device_name = models.CharField(max_length=255, blank=True)
    application_ip = models.GenericIPAddressField(null=True, blank=True)
    tracking_id = models.CharField(max_length=128, blank=True, db_index=True)
    ca_request_id = models.CharField(max_length=128, blank=True, help_text="The CA's id of a pending request.")
    certificate = models.ForeignKey(
        "certificates.Certificate", null=True, blank=True, on_delete=models.SET_NULL, related_name="enrollments"
    )
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    work_orders = GenericRelation("workorders.WorkOrder", content_type_field="target_type", object_id_field="target_id")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.connector_name} ({self.common_name})"

    def get_absolute_url(self) -> str:
        return reverse("enrollment:enrollment_detail", args=[self.pk])

    @property
    def common_name(self) -> str:
        return str(self.params.get("common_name", ""))


class EnrollmentAttachment(models.Model):
    """A document attached to an enrollment (e.g. an approval e-mail), stored in the database (Table 16)."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=100)
    comment = models.TextField(blank=True, max_length=2000)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    size = models.PositiveIntegerField()
    content = models.BinaryField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.filename})"
