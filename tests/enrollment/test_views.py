"""Enrollment pages: the Enroll form (policy pre-fill, field errors with nothing lost, CSR upload pre-fill), the
holistic view, downloads, revocation dialog, CA accounts page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from certificates.models import CertificateGroup, Policy
from clm.models import AuditEvent
from enrollment.csr import build_csr, generate_private_key
from enrollment.models import CAAccount, Enrollment
from tests.enrollment.helpers import enrollment_payload, issue
from tests.fixtures.users import PASSWORD
from workorders.models import WorkOrder


def signed_in(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def form_data(account: CAAccount, **overrides: Any) -> dict[str, Any]:
    group = CertificateGroup.objects.get(is_default=True)
    data = {
        "group": group.pk,
        "certificate_authority": "builtin",
        "ca_account": account.pk,
        "certificate_type": "server",
        "connector_name": "web-ui",
        "description": "",
        "renew_days_before": 30,
        "regenerate_days_before": 30,
        "reenroll_days_before": 30,
        "csr_source": "app",
        "common_name": "ui.example.test",
        "san_dns": "ui.example.test, www.ui.example.test",
        "san_ip": "",
        "san_email": "",
        "san_uri": "",
        "country": "US",
        "validity_value": 30,
        "validity_unit": "days",
        "hash": "sha256",
        "key_type": "rsa",
        "rsa_key_size": 2048,
        "tracking_id": "CHG-UI",
        "action": "add",
    }
    data.update(overrides)
    return data


def field_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    return match.group(1) if match else ""


def test_the_form_is_prefilled_from_the_groups_policy(requester: Any, ca_account: CAAccount) -> None:
    policy = Policy.objects.create(
        name="ops",
        organization="Ops Org",
        country="DE",
        default_key_type="ec",
        default_key_size=384,
        allowed_hashes=["sha384"],
        default_hash="sha384",
        max_validity_days=60,
    )
    group = CertificateGroup.objects.create(name="ops", policy=policy)
    html = signed_in(requester).get(f"/enroll/server/?group={group.pk}").content.decode()
    assert field_value(html, "organization") == "Ops Org" and field_value(html, "country") == "DE"
    assert '<option value="sha384" selected>' in html and '<option value="sha256"' not in html
    assert '<option value="ec" selected>' in html
    assert "not available yet" in html  # HSM and End Point are shown as the reference shows them


def test_adding_an_enrollment_redirects_to_its_holistic_view(requester: Any, ca_account: CAAccount) -> None:
    client = signed_in(requester)
    data = form_data(
        ca_account,
        **{"attr0-name": "cost_center", "attr0-value": "CC-9"},
        **{"att0-name": "CAB mail", "att0-comment": "ok", "att0-file": SimpleUploadedFile("cab.eml", b"approved")},
    )
    response = client.post("/enroll/server/", data)
    enrollment = Enrollment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/enrollments/{enrollment.pk}/"
    assert enrollment.attributes == {"cost_center": "CC-9"} and enrollment.tracking_id == "CHG-UI"
    assert enrollment.attachments.get().content == b"approved"
    assert enrollment.vendor_certificate_id.startswith("ui.example.test-")
    page = client.get(response["Location"]).content.decode()
    assert "web-ui" in page and "Not issued yet" in page and 'data-testid="wo-submit"' in page
    assert "WO-" in page and "Draft" in page


def test_field_errors_are_shown_and_nothing_typed_is_lost(requester: Any, ca_account: CAAccount) -> None:
    data = form_data(
        ca_account, common_name="x" * 65, country="USA", challenge_password="Weak", challenge_password_confirm="Weak"
    )
    response = signed_in(requester).post("/enroll/server/", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Common name can have at most 64 characters" in html and "2-letter country code" in html
    assert "The challenge password needs" in html
    assert field_value(html, "common_name") == "x" * 65 and field_value(html, "connector_name") == "web-ui"
    assert field_value(html, "challenge_password") == ""  # secrets are re-entered
    assert not Enrollment.objects.exists() and not WorkOrder.objects.exists()


def test_a_bit_length_outside_the_policy_is_shown_next_to_the_field(requester: Any, ca_account: CAAccount) -> None:
    policy = Policy.objects.create(name="big", allowed_rsa_sizes=[4096], default_key_size=4096)
    group = CertificateGroup.objects.create(name="big", policy=policy)
    response = signed_in(requester).post("/enroll/server/", form_data(ca_account, group=group.pk, rsa_key_size=2048))
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_hsm_is_refused_as_not_available_yet(requester: Any, ca_account: CAAccount) -> None:
    response = signed_in(requester).post("/enroll/server/", form_data(ca_account, csr_source="hsm"))
    assert response.status_code == 400 and "HSM key generation is not available yet." in response.content.decode()


def test_uploading_a_csr_fills_in_the_fields(requester: Any, ca_account: CAAccount) -> None:
    pem = build_csr(
        key=generate_private_key("ec", 256),
        subject={"common_name": "csr.example.test", "organization": "CSR Org", "country": "FR"},
        sans={"dns": ["csr.example.test", "alt.example.test"]},
        hash_name="sha256",
    )
    client = signed_in(requester)
    data = form_data(ca_account, csr_source="upload", common_name="", action="prefill")
    data["csr_file"] = SimpleUploadedFile("req.csr", pem.encode())
    html = client.post("/enroll/server/", data).content.decode()
    assert "Filled in from the CSR" in html
    assert field_value(html, "common_name") == "csr.example.test" and field_value(html, "organization") == "CSR Org"
    assert field_value(html, "san_dns") == "csr.example.test, alt.example.test"
    assert not Enrollment.objects.exists()

    bad = client.post("/enroll/server/", form_data(ca_account, csr_source="upload", csr="garbage", action="prefill"))
    assert "not a readable certificate request" in bad.content.decode()

    added = client.post(
        "/enroll/server/", form_data(ca_account, csr_source="upload", csr=pem, common_name="csr.example.test")
    )
    assert added.status_code == 302
    assert Enrollment.objects.get().csr_source == "upload" and Enrollment.objects.get().private_key is None


def test_changing_the_group_reapplies_its_policy_and_keeps_the_rest(requester: Any, ca_account: CAAccount) -> None:
    policy = Policy.objects.create(name="fr", organization="FR Org", country="FR")
    group = CertificateGroup.objects.create(name="fr", policy=policy)
    html = (
        signed_in(requester)
        .post("/enroll/server/", form_data(ca_account, group=group.pk, action="refresh", country="US"))
        .content.decode()
    )
    assert field_value(html, "country") == "FR" and field_value(html, "organization") == "FR Org"
    assert field_value(html, "common_name") == "ui.example.test"
    assert not Enrollment.objects.exists()


def test_the_client_page_defaults_to_the_client_template(requester: Any, ca_account: CAAccount) -> None:
    html = signed_in(requester).get("/enroll/client/").content.decode()
    assert "Enroll Client Certificate" in html and '<option value="client" selected>' in html


@pytest.mark.parametrize("role", ["approver", "implementer", "auditor"])
def test_roles_that_do_not_request_cannot_open_the_enroll_page(
    role: str, role_users: dict[str, Any], ca_account: CAAccount
) -> None:
    assert signed_in(role_users[role]).get("/enroll/server/").status_code == 403


def test_the_holistic_view_of_an_issued_certificate(
    api: Any, requester: Any, approver: Any, approver_b: Any, implementer: Any, auditor: Any, ca_account: CAAccount
) -> None:
    enrollment = issue(
        api, enrollment_payload(ca_account, tracking_id="CHG-H"), requester, [approver, approver_b], implementer
    )
    cert_id = enrollment["certificate"]
    assert signed_in(requester).get(f"/enrollments/{enrollment['id']}/")["Location"] == f"/certificates/{cert_id}/"
    html = signed_in(requester).get(f"/certificates/{cert_id}/").content.decode()
    for text in (
        "www.example.test",
        "DNS:example.test",
        "IP:192.0.2.10",
        "Managed",
        "Compliant",
        "web-prod",
        "Completed",
        "Download PEM",
        'data-testid="download-pfx"',
        'data-testid="revoke"',
        "CHG-H",
        "No application connectors",
        "&lt; 90 days",  # the expiry badge of a 90-day certificate
    ):
        assert text in html, text
    as_auditor = signed_in(auditor).get(f"/certificates/{cert_id}/").content.decode()
    assert 'data-testid="download-pfx"' not in as_auditor and 'data-testid="revoke"' not in as_auditor
    assert "Download PEM" in as_auditor


def test_ui_downloads_and_the_pfx_dialog(
    api: Any, requester: Any, approver: Any, approver_b: Any, implementer: Any, ca_account: CAAccount
) -> None:
    cert_id = issue(api, enrollment_payload(ca_account), requester, [approver, approver_b], implementer)["certificate"]
    client = signed_in(requester)
    pem = client.get(f"/certificates/{cert_id}/download/pem/")
    assert pem["Content-Disposition"] == 'attachment; filename="www.example.test.pem"'
    assert client.get(f"/certificates/{cert_id}/download/chain/").content.count(b"BEGIN CERTIFICATE") == 3
    assert client.get(f"/certificates/{cert_id}/download/der/")["Content-Type"] == "application/pkix-cert"
    mismatch = client.post(
        f"/certificates/{cert_id}/download/pfx/", {"password": "Long-pass-1", "password_confirm": "x"}
    )
    assert mismatch.status_code == 400 and b"do not match" in mismatch.content
    pfx = client.post(
        f"/certificates/{cert_id}/download/pfx/", {"password": "Long-pass-1", "password_confirm": "Long-pass-1"}
    )
    assert pfx["Content-Type"] == "application/x-pkcs12"
    assert AuditEvent.objects.filter(action="certificate.private_key_download").count() == 1
    assert signed_in(approver).get(f"/certificates/{cert_id}/download/pfx/").status_code == 403


def test_the_revoke_dialog_creates_a_submitted_revoke_order(
    api: Any, requester: Any, approver: Any, approver_b: Any, implementer: Any, ca_account: CAAccount
) -> None:
    cert_id = issue(api, enrollment_payload(ca_account), requester, [approver, approver_b], implementer)["certificate"]
    client = signed_in(requester)
    assert b'name="reason"' in client.get(f"/certificates/{cert_id}/revoke/", HTTP_HX_REQUEST="true").content
    response = client.post(f"/certificates/{cert_id}/revoke/", {"reason": "superseded", "comment": "replaced"})
    assert response.status_code == 302
    order = WorkOrder.objects.get(action="revoke")
    assert order.state == "submitted" and order.params["reason"] == "superseded"


def test_the_ca_accounts_page_lists_the_builtin_ca(auditor: Any, ca_account: CAAccount) -> None:
    html = signed_in(auditor).get("/settings/ca-accounts/").content.decode()
    assert "Built-in CA" in html and "Thumbprint Issuing CA" in html and f"/pki/{ca_account.pk}/issuing.crl" in html


def test_attachments_download_from_the_ui(requester: Any, ca_account: CAAccount) -> None:
    client = signed_in(requester)
    client.post(
        "/enroll/server/",
        form_data(ca_account, **{"att0-name": "doc", "att0-file": SimpleUploadedFile("doc.txt", b"hello")}),
    )
    enrollment = Enrollment.objects.get()
    attachment = enrollment.attachments.get()
    response = client.get(f"/enrollments/{enrollment.pk}/attachments/{attachment.pk}/")
    assert response.content == b"hello" and 'filename="doc.txt"' in response["Content-Disposition"]
