"""Secrets at rest: authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) under rotatable keys.

`CLM_SECRET_KEYS` lists Fernet keys newest first. New values are encrypted under the first key; any listed key
decrypts. `manage.py rotate_secret_keys` re-encrypts every stored secret under the newest key, after which old
keys can be dropped from the list.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from clm.logging import register_secret


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("CLM_SECRET_KEYS is empty; secrets cannot be encrypted.")
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.CLM_SECRET_KEYS))


def encrypt(plaintext: bytes) -> str:
    return fernet().encrypt(plaintext).decode("ascii")


def decrypt(token: str) -> bytes:
    try:
        return fernet().decrypt(token.encode("ascii"))
    except InvalidToken as exc:
        raise SecretDecryptionError("stored secret cannot be decrypted with the configured CLM_SECRET_KEYS") from exc


def rotate_token(token: str) -> str:
    """Re-encrypt a token under the newest key (raises SecretDecryptionError if no key opens it)."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise SecretDecryptionError("stored secret cannot be decrypted with the configured CLM_SECRET_KEYS") from exc


class _EncryptedField(models.TextField):
    """Base for encrypted columns: the database holds a Fernet token (text); Python code sees the plaintext."""

    encrypted = True

    def to_bytes(self, value: Any) -> bytes:
        return bytes(value)

    def from_bytes(self, value: bytes) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt(self.to_bytes(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self.from_bytes(decrypt(value))

    def to_python(self, value: Any) -> Any:
        return value


class EncryptedTextField(_EncryptedField):
    """A text secret (password, token). Decrypted values are remembered by the log masker."""

    def to_bytes(self, value: Any) -> bytes:
        register_secret(str(value))
        return str(value).encode("utf-8")

    def from_bytes(self, value: bytes) -> str:
        text = value.decode("utf-8")
        register_secret(text)
        return text


class EncryptedBinaryField(_EncryptedField):
    """A binary secret (private key, PFX bytes)."""

    # What django-stubs' mypy plugin reads as the field's Python type (a TextField would say str).
    _pyi_private_set_type: bytes  # type: ignore[assignment]
    _pyi_private_get_type: bytes  # type: ignore[assignment]


def encrypted_fields() -> list[tuple[type[models.Model], _EncryptedField]]:
    """Every (model, field) pair that stores an encrypted value, across all installed apps."""
    from django.apps import apps

    pairs = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, _EncryptedField):
                pairs.append((model, field))
    return pairs
