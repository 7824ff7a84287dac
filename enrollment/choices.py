"""Vocabularies of enrollment (reference: "Enrolling a Server Certificate", Tables 11 and 15)."""

from __future__ import annotations

from cryptography import x509
from django.db import models


class CsrSource(models.TextChoices):
    """Where the key pair and the CSR are made ("CSR Generation")."""

    APP = "app", "Thumbprint (generate in the portal)"
    UPLOAD = "upload", "Upload CSR"
    HSM = "hsm", "HSM"
    ENDPOINT = "endpoint", "End Point"


# Sources shown as the reference shows them but refused until their issue lands.
UNAVAILABLE_CSR_SOURCES = {
    CsrSource.HSM: "HSM key generation is not available yet.",
    CsrSource.ENDPOINT: "Key generation on the endpoint is not available yet.",
}


class ValidityUnit(models.TextChoices):
    DAYS = "days", "Days"
    MONTHS = "months", "Months"
    YEARS = "years", "Years"


class SanType(models.TextChoices):
    DNS = "dns", "DNS"
    IP = "ip", "IP address"
    EMAIL = "email", "E-mail"
    URI = "uri", "URI"


class CARequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ISSUED = "issued", "Issued"
    REVOKED = "revoked", "Revoked"


class RevocationReason(models.TextChoices):
    UNSPECIFIED = "unspecified", "Unspecified"
    KEY_COMPROMISE = "key_compromise", "Key compromise"
    AFFILIATION_CHANGED = "affiliation_changed", "Affiliation changed"
    SUPERSEDED = "superseded", "Superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation", "Cessation of operation"


REASON_FLAGS = {
    RevocationReason.UNSPECIFIED: x509.ReasonFlags.unspecified,
    RevocationReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    RevocationReason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    RevocationReason.SUPERSEDED: x509.ReasonFlags.superseded,
    RevocationReason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
}

# Key sizes the portal can generate (the group's policy narrows them further).
GENERATED_RSA_SIZES = (2048, 3072, 4096)
GENERATED_EC_SIZES = (256, 384)
EC_SIZE_TO_CURVE = {256: "P-256", 384: "P-384", 521: "P-521"}
