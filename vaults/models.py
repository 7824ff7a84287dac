"""The portal's credential list and password vaults. Secrets are encrypted at rest (clm.crypto) and never leave the
portal except towards the device that needs them, at job time."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models

from clm.crypto import EncryptedTextField
from clm.logging import register_secret


class Credential(models.Model):
    """A named user name + password kept in the portal ("Credential List"), reusable by any number of devices (as
    their device credential or their folder credential). A credential in use cannot be deleted (PROTECT)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=500, blank=True)
    username = models.CharField(max_length=256)
    password = EncryptedTextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PasswordVault(models.Model):
    """A named, ordered set of passwords that discovery tries on password-protected .pfx/.p12 files found in a
    device's centralized file system location. The list is stored encrypted as one JSON array."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=500, blank=True)
    passwords = EncryptedTextField(default="[]")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def password_list(self) -> list[str]:
        """The passwords, in the order they are tried (each remembered by the log masker)."""
        values = [str(p) for p in json.loads(self.passwords or "[]")]
        for value in values:
            register_secret(value)
        return values

    @property
    def password_count(self) -> int:
        return len(self.password_list())
