"""Secrets never reach a log line: patterns and remembered values are masked before any handler sees them."""

from __future__ import annotations

import logging
from typing import Any

from clm.logging import MASK, register_secret

CANARY = "Canary-P@ss$w0rd-7731"


def test_a_password_assignment_is_masked(caplog: Any) -> None:
    logger = logging.getLogger("clm.test")
    with caplog.at_level(logging.INFO):
        logger.info("connecting with password=%s to host", CANARY)
        logger.info("payload %s", {"username": "admin", "password": CANARY})
        logger.info('json {"pfx_password": "%s"}', CANARY)
    assert CANARY not in caplog.text
    assert caplog.text.count(MASK) == 3


def test_a_remembered_secret_is_masked_wherever_it_appears(caplog: Any) -> None:
    register_secret(CANARY)
    with caplog.at_level(logging.INFO):
        logging.getLogger("clm.test").info("the device said: %s", f"bad logon for {CANARY}")
    assert CANARY not in caplog.text


def test_a_private_key_in_an_exception_is_masked(caplog: Any) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    with caplog.at_level(logging.ERROR):
        try:
            raise ValueError(f"cannot load {pem}")
        except ValueError:
            logging.getLogger("clm.test").exception("import failed")
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in caplog.text


def test_a_secret_read_from_an_encrypted_field_is_masked(db: Any, caplog: Any) -> None:
    from certificates.models import PrivateKey

    secret = b"pkcs8-bytes-not-text"
    key = PrivateKey.objects.create(key_type="rsa", key_size=2048, pkcs8=secret, public_key_sha256="1" * 64)
    from clm.crypto import EncryptedTextField

    field = EncryptedTextField()
    token = field.get_prep_value(CANARY + "-field")
    assert field.from_db_value(token, None, None) == CANARY + "-field"
    with caplog.at_level(logging.INFO):
        logging.getLogger("clm.test").info("value was %s (key %s)", CANARY + "-field", key.pk)
    assert CANARY + "-field" not in caplog.text


def test_every_request_gets_a_request_id_in_its_logs_and_response(client: Any, requester: Any, caplog: Any) -> None:
    from tests.fixtures.users import PASSWORD

    with caplog.at_level(logging.INFO):
        response = client.post("/api/v1/auth/token/", {"username": requester.username, "password": PASSWORD})
    request_id = response["X-Request-ID"]
    assert len(request_id) == 16
    assert any(getattr(r, "request_id", None) == request_id for r in caplog.records)
