"""Vocabularies of the inventory."""

from django.db import models


class CertificateStatus(models.TextChoices):
    """The reference's inventory statuses: Managed certificates are acted on (renew, push); Monitored are watched."""

    MANAGED = "managed", "Managed"
    MONITORED = "monitored", "Monitored"


class CertificateSource(models.TextChoices):
    DISCOVERED = "discovered", "Discovered"
    ENROLLED = "enrolled", "Enrolled"
    UPLOADED = "uploaded", "Uploaded"


class KeyType(models.TextChoices):
    RSA = "rsa", "RSA"
    EC = "ec", "EC"
    DSA = "dsa", "DSA"
    ED25519 = "ed25519", "Ed25519"
    ED448 = "ed448", "Ed448"


class HashFunction(models.TextChoices):
    SHA256 = "sha256", "SHA-256"
    SHA384 = "sha384", "SHA-384"
    SHA512 = "sha512", "SHA-512"
    SHA1 = "sha1", "SHA-1"


class KeyLocation(models.TextChoices):
    """Where a certificate's private key lives."""

    PORTAL = "portal", "In the portal (encrypted)"
    HSM = "hsm", "On an HSM"
    ENDPOINT = "endpoint", "On the endpoint"


EC_CURVE_SIZES = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}
