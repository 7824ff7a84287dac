"""Secrets at rest: the database holds ciphertext only, and key rotation keeps every secret readable."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from certificates.models import PrivateKey
from clm.crypto import SecretDecryptionError, _fernet
from clm.models import AuditEvent

CANARY = b"-----CANARY-PKCS8-9f2c1e-----" * 4


def raw_value(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pkcs8 FROM certificates_privatekey WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def make_key() -> PrivateKey:
    return PrivateKey.objects.create(key_type="rsa", key_size=2048, pkcs8=CANARY, public_key_sha256="0" * 64)


def test_an_encrypted_column_holds_no_plaintext(db: Any) -> None:
    key = make_key()
    raw = raw_value(key.pk)
    assert b"CANARY" not in raw.encode()
    assert raw.startswith("gAAAAA")  # a Fernet token
    assert PrivateKey.objects.get(pk=key.pk).pkcs8 == CANARY


def test_key_rotation_keeps_every_secret_readable(db: Any, settings: Any) -> None:
    keys = [make_key() for _ in range(3)]
    before = {k.pk: raw_value(k.pk) for k in keys}
    new_key = Fernet.generate_key().decode()
    settings.CLM_SECRET_KEYS = [new_key, *settings.CLM_SECRET_KEYS]
    _fernet.cache_clear()
    call_command("rotate_secret_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    after = {k.pk: raw_value(k.pk) for k in keys}
    assert all(before[pk] != after[pk] for pk in before)
    # Only the new key remains: everything must still decrypt.
    with override_settings(CLM_SECRET_KEYS=[new_key]):
        _fernet.cache_clear()
        assert [PrivateKey.objects.get(pk=k.pk).pkcs8 for k in keys] == [CANARY] * 3
    _fernet.cache_clear()
    assert AuditEvent.objects.filter(action="secrets.rotated").exists()


def test_a_secret_under_an_unknown_key_is_a_clear_error(db: Any, settings: Any) -> None:
    key = make_key()
    settings.CLM_SECRET_KEYS = [Fernet.generate_key().decode()]
    _fernet.cache_clear()
    try:
        with pytest.raises(SecretDecryptionError, match="cannot be decrypted"):
            PrivateKey.objects.get(pk=key.pk)
    finally:
        _fernet.cache_clear()
