"""Application connectors and the portal-wide settings that govern pushes."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from connectors.choices import Pkcs12EncryptionChoice


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
