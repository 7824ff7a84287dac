"""Revocation through a work order: the serial lands on the CRL the portal publishes, and openssl agrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography import x509

from certificates.models import Certificate
from certificates.services import certificate_record
from certificates.x509 import parse_pem
from enrollment.models import CAAccount
from tests.enrollment.helpers import enrollment_payload, execute_now, issue, openssl
from workorders.models import WorkOrder


@pytest.fixture
def issued(api: Any, requester: Any, approver: Any, approver_b: Any, implementer: Any, ca_account: CAAccount) -> dict:
    return issue(
        api, enrollment_payload(ca_account, tracking_id="CHG-REV"), requester, [approver, approver_b], implementer
    )


def crl_pem(client: Any, account: CAAccount, tmp_path: Path, name: str) -> x509.CertificateRevocationList:
    der = client.get(f"/pki/{account.pk}/{name}").content
    (tmp_path / f"{name}.der").write_bytes(der)
    converted = openssl("crl", "-inform", "DER", "-in", f"{name}.der", "-out", f"{name}.pem", cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    return x509.load_der_x509_crl(der)


def test_revoking_through_a_work_order_puts_the_serial_on_the_published_crl(
    api: Any,
    issued: dict,
    requester: Any,
    approver: Any,
    approver_b: Any,
    implementer: Any,
    ca_account: CAAccount,
    tmp_path: Path,
) -> None:
    certificate = Certificate.objects.get(pk=issued["certificate"])
    serial = int(certificate.serial, 16)
    client = api(requester)
    assert crl_pem(client, ca_account, tmp_path, "issuing.crl").get_revoked_certificate_by_serial_number(serial) is None

    response = client.post(
        f"/api/v1/certificates/{certificate.pk}/revoke/",
        {"reason": "key_compromise", "comment": "laptop stolen"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    order_id = response.json()["work_order"]
    assert response.json()["state"] == "submitted" and response.json()["action"] == "revoke"
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async"):
        for user in (approver, approver_b):
            assert api(user).post(f"/api/v1/work-orders/{order_id}/approve/", {}, format="json").status_code == 200
        assert api(implementer).post(f"/api/v1/work-orders/{order_id}/implement/", {}, format="json").status_code == 200
    assert execute_now(order_id) == "completed"

    certificate.refresh_from_db()
    assert certificate.revoked_at is not None
    order = WorkOrder.objects.get(pk=order_id)
    assert order.result["serial"] == certificate.serial and order.tracking_id == "CHG-REV"

    crl = crl_pem(client, ca_account, tmp_path, "issuing.crl")
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    text = openssl("crl", "-in", "issuing.crl.pem", "-noout", "-text", cwd=tmp_path).stdout
    assert certificate.serial in text.replace(":", "").upper()

    crl_pem(client, ca_account, tmp_path, "root.crl")
    (tmp_path / "leaf.pem").write_bytes(client.get(f"/api/v1/certificates/{certificate.pk}/download/?type=pem").content)
    (tmp_path / "root.pem").write_bytes(client.get(f"/pki/{ca_account.pk}/root.pem").content)
    (tmp_path / "issuing.pem").write_bytes(client.get(f"/pki/{ca_account.pk}/issuing.pem").content)
    (tmp_path / "crls.pem").write_text(
        (tmp_path / "issuing.crl.pem").read_text() + (tmp_path / "root.crl.pem").read_text()
    )
    verdict = openssl(
        "verify",
        "-crl_check_all",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "issuing.pem",
        "-CRLfile",
        "crls.pem",
        "leaf.pem",
        cwd=tmp_path,
    )
    assert verdict.returncode != 0 and "certificate revoked" in verdict.stdout + verdict.stderr


def test_the_crl_check_passes_before_revocation(
    api: Any, issued: dict, requester: Any, ca_account: CAAccount, tmp_path: Path
) -> None:
    client = api(requester)
    crl_pem(client, ca_account, tmp_path, "issuing.crl")
    crl_pem(client, ca_account, tmp_path, "root.crl")
    (tmp_path / "leaf.pem").write_bytes(
        client.get(f"/api/v1/certificates/{issued['certificate']}/download/?type=pem").content
    )
    (tmp_path / "root.pem").write_bytes(client.get(f"/pki/{ca_account.pk}/root.pem").content)
    (tmp_path / "issuing.pem").write_bytes(client.get(f"/pki/{ca_account.pk}/issuing.pem").content)
    (tmp_path / "crls.pem").write_text(
        (tmp_path / "issuing.crl.pem").read_text() + (tmp_path / "root.crl.pem").read_text()
    )
    verdict = openssl(
        "verify",
        "-crl_check_all",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "issuing.pem",
        "-CRLfile",
        "crls.pem",
        "leaf.pem",
        cwd=tmp_path,
    )
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_a_second_revocation_request_while_one_is_open_is_a_conflict(api: Any, issued: dict, requester: Any) -> None:
    url = f"/api/v1/certificates/{issued['certificate']}/revoke/"
    assert api(requester).post(url, {}, format="json").status_code == 201
    assert api(requester).post(url, {}, format="json").status_code == 409


def test_a_certificate_not_enrolled_here_cannot_be_revoked_here(
    api: Any, requester: Any, ca_account: CAAccount
) -> None:
    from enrollment.ca import ca_module_get
    from tests.enrollment.test_builtin_ca import a_csr, request_for

    foreign = ca_module_get("builtin").submit(ca_account, request_for(a_csr(), ref="elsewhere"))
    certificate, _ = certificate_record(parsed=parse_pem(foreign.certificate_pem.encode()))
    response = api(requester).post(f"/api/v1/certificates/{certificate.pk}/revoke/", {}, format="json")
    assert response.status_code == 400 and "certificate" in response.json()["errors"]
    assert not WorkOrder.objects.filter(action="revoke").exists()


@pytest.mark.parametrize("role", ["administrator", "requester", "approver", "implementer", "auditor"])
def test_revoke_endpoint_per_role(role: str, role_users: dict[str, Any], api: Any, issued: dict) -> None:
    response = api(role_users[role]).post(f"/api/v1/certificates/{issued['certificate']}/revoke/", {}, format="json")
    assert response.status_code == (201 if role in ("administrator", "requester") else 403)
