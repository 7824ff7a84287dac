"""`POST /api/v1/enrollments/` (API.md "Enrollment"): validation that names the field and creates nothing, CSR
sources, the issued certificate, attachments, attributes, the tracking id, and authorization for each role."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.utils import timezone

from certificates.models import Certificate, CertificateGroup, Policy, PrivateKey
from clm.models import AuditEvent
from enrollment.csr import build_csr, generate_private_key
from enrollment.models import CAAccount, Enrollment, EnrollmentAttachment
from tests.enrollment.helpers import enrollment_payload, execute_now, issue, openssl
from workorders.models import WorkOrder
from workorders.services import workorder_start_due

ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.fixture
def three(requester: Any, approver: Any, approver_b: Any, implementer: Any) -> dict[str, Any]:
    return {"requester": requester, "approvers": [approver, approver_b], "implementer": implementer}


def counts() -> tuple[int, int, int, int, int]:
    return (
        Enrollment.objects.count(),
        WorkOrder.objects.count(),
        PrivateKey.objects.count(),
        EnrollmentAttachment.objects.count(),
        AuditEvent.objects.filter(action="enrollment.create").count(),
    )


def test_it_creates_an_enrollment_with_a_draft_work_order(api: Any, requester: Any, ca_account: CAAccount) -> None:
    response = api(requester).post("/api/v1/enrollments/", enrollment_payload(ca_account), format="json")
    assert response.status_code == 201
    body = response.json()
    assert {"id", "work_order"} <= set(body)
    order = WorkOrder.objects.get(pk=body["work_order"])
    assert (order.action, order.state, order.requester, order.approval_levels) == ("enroll", "draft", requester, 2)
    assert body["work_order_id"] == order.work_order_id and body["state"] == "draft"
    assert body["has_private_key"] is True and "challenge_password" not in body
    key = PrivateKey.objects.get()
    assert (key.key_type, key.key_size, key.location) == ("rsa", 2048, "portal")
    csr = x509.load_pem_x509_csr(body["csr"].encode())
    assert csr.is_signature_valid and csr.subject.rfc4514_string().startswith("CN=www.example.test")


# --- acceptance: the four 400s name the field and create nothing -----------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {
                "csr_source": "upload",
                "csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----",
            },
            "csr",
        ),
        ({"params": {"common_name": "a" * 65}}, "params.common_name"),
        ({"params": {"country": "USA"}}, "params.country"),
        ({"params": {"key_size": 1024}}, "params.key_size"),
    ],
    ids=["malformed-csr", "65-char-cn", "3-letter-country", "key-size-outside-policy"],
)
def test_invalid_input_is_a_400_naming_the_field_and_creates_nothing(
    api: Any, requester: Any, ca_account: CAAccount, overrides: dict[str, Any], field: str
) -> None:
    before = counts()
    response = api(requester).post("/api/v1/enrollments/", enrollment_payload(ca_account, **overrides), format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in body["errors"], body
    assert list(body["errors"]) == [field]
    assert field in body["detail"]
    assert counts() == before


def test_every_failing_field_is_named_at_once(api: Any, requester: Any, ca_account: CAAccount) -> None:
    payload = enrollment_payload(
        ca_account,
        connector_name="",
        description="d" * 2001,
        renew_days_before=121,
        challenge_password="weak",
        challenge_password_confirm="weaker",
        params={"sans": {"dns": ["bad..name"], "ip": ["1.2.3"]}, "validity": {"value": 5, "unit": "years"}},
    )
    errors = api(requester).post("/api/v1/enrollments/", payload, format="json").json()["errors"]
    assert {
        "connector_name",
        "description",
        "renew_days_before",
        "challenge_password",
        "challenge_password_confirm",
        "params.sans.dns",
        "params.sans.ip",
        "params.validity",
    } <= set(errors)
    assert counts() == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("source", ["hsm", "endpoint"])
def test_hsm_and_endpoint_sources_are_not_available_yet(
    api: Any, requester: Any, ca_account: CAAccount, source: str
) -> None:
    response = api(requester).post(
        "/api/v1/enrollments/", enrollment_payload(ca_account, csr_source=source), format="json"
    )
    assert response.status_code == 400
    assert "not available yet" in response.json()["errors"]["csr_source"][0]
    assert counts() == (0, 0, 0, 0, 0)


def test_an_uploaded_csr_with_a_broken_signature_is_refused(api: Any, requester: Any, ca_account: CAAccount) -> None:
    pem = build_csr(
        key=generate_private_key("rsa", 2048), subject={"common_name": "a.test"}, sans={}, hash_name="sha256"
    )
    csr = x509.load_pem_x509_csr(pem.encode())
    from cryptography.hazmat.primitives import serialization

    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[der.find(b"a.test")] = ord("z")
    body = enrollment_payload(ca_account, csr_source="upload", csr=base64.b64encode(bytes(der)).decode())
    response = api(requester).post("/api/v1/enrollments/", body, format="json")
    assert response.status_code == 400 and "signature" in response.json()["errors"]["csr"][0]


def test_an_uploaded_csr_must_meet_the_policy_too(api: Any, requester: Any, ca_account: CAAccount) -> None:
    pem = build_csr(
        key=ec.generate_private_key(ec.SECP521R1()), subject={"common_name": "p521.test"}, sans={}, hash_name="sha256"
    )
    response = api(requester).post(
        "/api/v1/enrollments/", enrollment_payload(ca_account, csr_source="upload", csr=pem, params={}), format="json"
    )
    assert response.status_code == 400 and "P-521" in response.json()["errors"]["params.key_size"][0]


def test_the_groups_policy_limits_the_request(api: Any, requester: Any, ca_account: CAAccount) -> None:
    policy = Policy.objects.create(
        name="strict", allowed_key_types=["ec"], allowed_hashes=["sha384"], max_validity_days=30
    )
    group = CertificateGroup.objects.create(name="strict", policy=policy)
    payload = enrollment_payload(ca_account, group=group.pk)
    errors = api(requester).post("/api/v1/enrollments/", payload, format="json").json()["errors"]
    assert {"params.key_type", "params.hash", "params.validity"} <= set(errors)
    ok = enrollment_payload(
        ca_account,
        group=group.pk,
        params={"key_type": "ec", "key_size": 384, "hash": "sha384", "validity": {"value": 30, "unit": "days"}},
    )
    assert api(requester).post("/api/v1/enrollments/", ok, format="json").status_code == 201


def test_an_unknown_group_or_account_is_named(api: Any, requester: Any, ca_account: CAAccount) -> None:
    errors = (
        api(requester)
        .post("/api/v1/enrollments/", enrollment_payload(ca_account, group=9999, ca_account=9999), format="json")
        .json()["errors"]
    )
    assert {"group", "ca_account"} <= set(errors)


# --- the issued certificate -----------------------------------------------------------------------------------------


def test_the_issued_certificate_is_managed_in_its_group_with_key_chain_and_attributes(
    api: Any, three: dict[str, Any], ca_account: CAAccount
) -> None:
    payload = enrollment_payload(ca_account, attributes={"cost_center": "CC-42"}, tracking_id="CHG-1001")
    enrollment = issue(api, payload, three["requester"], three["approvers"], three["implementer"])
    certificate = Certificate.objects.get(pk=enrollment["certificate"])
    assert (certificate.status, certificate.source, certificate.group.is_default) == ("managed", "enrolled", True)
    assert certificate.attributes == {"cost_center": "CC-42"}
    assert certificate.private_key.location == "portal"
    assert certificate.chain_pem.count("BEGIN CERTIFICATE") == 2
    assert certificate.sans["dns"] == ["www.example.test", "example.test"] and certificate.sans["ip"] == ["192.0.2.10"]
    order = WorkOrder.objects.get(pk=enrollment["work_order"])
    assert order.state == "completed" and order.certificate == certificate
    assert order.result["certificate"] == certificate.pk


def test_the_tracking_id_appears_in_every_audit_event_of_the_enrollment(
    api: Any, three: dict[str, Any], ca_account: CAAccount
) -> None:
    enrollment = issue(
        api,
        enrollment_payload(ca_account, tracking_id="CHG-777"),
        three["requester"],
        three["approvers"],
        three["implementer"],
    )
    order = enrollment["work_order"]
    events = AuditEvent.objects.filter(
        object_type__in=["enrollment.enrollment", "workorders.workorder", "certificates.certificate"],
        object_id__in=[str(enrollment["id"]), str(order), str(enrollment["certificate"])],
    )
    actions = sorted(e.action for e in events)
    assert actions == sorted(
        [
            "enrollment.create",
            "workorder.create",
            "workorder.submit",
            "workorder.approve",
            "workorder.approve",
            "workorder.implement",
            "workorder.complete",
            "certificate.issued",
        ]
    )
    assert {e.tracking_id for e in events} == {"CHG-777"}
    assert set(AuditEvent.objects.filter(tracking_id="CHG-777").values_list("action", flat=True)) == set(actions)


@pytest.mark.parametrize(
    ("validity", "days"), [({"value": 45, "unit": "days"}, 45), ({"value": 12, "unit": "months"}, None)]
)
def test_the_certificate_has_exactly_the_requested_validity(
    api: Any, three: dict[str, Any], ca_account: CAAccount, validity: dict[str, Any], days: int | None
) -> None:
    payload = enrollment_payload(ca_account, params={"validity": validity})
    certificate = Certificate.objects.get(
        pk=issue(api, payload, three["requester"], three["approvers"], three["implementer"])["certificate"]
    )
    if days is not None:
        assert certificate.not_after - certificate.not_before == timedelta(days=days)
    else:
        nb, na = certificate.not_before, certificate.not_after
        assert (na.year, na.month) == (nb.year + 1, nb.month) and na.time() == nb.time()


def test_an_ec_p384_enrollment_issues_an_ec_certificate(api: Any, three: dict[str, Any], ca_account: CAAccount) -> None:
    payload = enrollment_payload(ca_account, params={"key_type": "ec", "key_size": 384, "hash": "sha384"})
    certificate = Certificate.objects.get(
        pk=issue(api, payload, three["requester"], three["approvers"], three["implementer"])["certificate"]
    )
    leaf = x509.load_der_x509_certificate(bytes(certificate.der))
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey) and leaf.public_key().curve.name == "secp384r1"
    assert (certificate.key_type, certificate.key_size, certificate.signature_hash) == ("ec", 384, "sha384")


def test_an_uploaded_csr_is_issued_with_its_own_key_and_prefilled_fields(
    api: Any, three: dict[str, Any], ca_account: CAAccount
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    pem = build_csr(
        key=key,
        subject={"common_name": "upload.example.test", "organization": "Upload Org", "country": "DE"},
        sans={"dns": ["upload.example.test"]},
        hash_name="sha256",
    )
    prefill = api(three["requester"]).post("/api/v1/enrollments/csr-prefill/", {"csr": pem}, format="json").json()
    assert prefill["params"]["common_name"] == "upload.example.test" and prefill["params"]["key_size"] == 3072
    payload = enrollment_payload(
        ca_account, csr_source="upload", csr=pem, params={"validity": {"value": 30, "unit": "days"}}
    )
    payload["params"] = {"validity": {"value": 30, "unit": "days"}}
    enrollment = issue(api, payload, three["requester"], three["approvers"], three["implementer"])
    certificate = Certificate.objects.get(pk=enrollment["certificate"])
    assert certificate.common_name == "upload.example.test" and "O=Upload Org" in certificate.subject
    leaf = x509.load_der_x509_certificate(bytes(certificate.der))
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert enrollment["has_private_key"] is False and not PrivateKey.objects.exists()


def test_a_client_certificate_is_listed_as_client(api: Any, three: dict[str, Any], ca_account: CAAccount) -> None:
    payload = enrollment_payload(
        ca_account,
        certificate_type="client",
        params={"common_name": "Rita Client", "sans": {"email": ["rita@example.test"]}},
    )
    certificate = Certificate.objects.get(
        pk=issue(api, payload, three["requester"], three["approvers"], three["implementer"])["certificate"]
    )
    assert certificate.extended_key_usage == ["clientAuth"] and certificate.is_client


def test_attachments_are_stored_and_downloadable(api: Any, requester: Any, ca_account: CAAccount) -> None:
    attachment = {
        "name": "CAB approval",
        "comment": "approved on Monday",
        "filename": "approval.eml",
        "content_base64": base64.b64encode(b"Subject: approved").decode(),
    }
    body = (
        api(requester)
        .post("/api/v1/enrollments/", enrollment_payload(ca_account, attachments=[attachment]), format="json")
        .json()
    )
    [stored] = body["attachments"]
    assert (stored["name"], stored["size"], stored["filename"]) == ("CAB approval", 17, "approval.eml")
    download = api(requester).get(f"/api/v1/enrollments/{body['id']}/attachments/{stored['id']}/")
    assert download.status_code == 200 and download.content == b"Subject: approved"
    unnamed = dict(attachment, name="")
    refused = api(requester).post(
        "/api/v1/enrollments/", enrollment_payload(ca_account, attachments=[unnamed]), format="json"
    )
    assert refused.status_code == 400 and "attachments[0].name" in refused.json()["errors"]


def test_a_scheduled_enrollment_is_issued_at_its_time_and_not_before(
    api: Any, three: dict[str, Any], ca_account: CAAccount
) -> None:
    created = api(three["requester"]).post("/api/v1/enrollments/", enrollment_payload(ca_account), format="json").json()
    order_id = created["work_order"]
    for user, verb in ((three["requester"], "submit"), *((a, "approve") for a in three["approvers"])):
        api(user).post(f"/api/v1/work-orders/{order_id}/{verb}/", {}, format="json")
    at = timezone.now() + timedelta(hours=2)
    response = api(three["implementer"]).post(
        f"/api/v1/work-orders/{order_id}/implement/", {"schedule_at": at.isoformat()}, format="json"
    )
    assert response.json()["state"] == "scheduled"
    with mock.patch("workorders.tasks.workorder_execute_task.apply_async"):
        assert workorder_start_due(now=at - timedelta(seconds=1)) == []
        assert execute_now(order_id) == "skipped"  # a stray message before the time does nothing
        assert Enrollment.objects.get(pk=created["id"]).certificate is None
        assert workorder_start_due(now=at) == [order_id]
    assert execute_now(order_id) == "completed"
    assert Enrollment.objects.get(pk=created["id"]).certificate is not None


# --- openssl -------------------------------------------------------------------------------------------------------


def test_the_chain_verifies_with_openssl_and_downloads_work(
    api: Any, three: dict[str, Any], ca_account: CAAccount, tmp_path: Path
) -> None:
    enrollment = issue(
        api, enrollment_payload(ca_account), three["requester"], three["approvers"], three["implementer"]
    )
    client = api(three["requester"])
    cert_id = enrollment["certificate"]
    (tmp_path / "leaf.pem").write_bytes(client.get(f"/api/v1/certificates/{cert_id}/download/?type=pem").content)
    (tmp_path / "root.pem").write_bytes(client.get(f"/pki/{ca_account.pk}/root.pem").content)
    (tmp_path / "issuing.pem").write_bytes(client.get(f"/pki/{ca_account.pk}/issuing.pem").content)
    result = openssl("verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "leaf.pem", cwd=tmp_path)
    assert result.returncode == 0 and "leaf.pem: OK" in result.stdout, result.stdout + result.stderr
    der = client.get(f"/api/v1/certificates/{cert_id}/download/?type=der")
    assert der.status_code == 200 and der.content == bytes(Certificate.objects.get(pk=cert_id).der)
    chain = client.get(f"/api/v1/certificates/{cert_id}/download/?type=chain").content
    assert chain.count(b"BEGIN CERTIFICATE") == 3

    pfx = client.post(
        f"/api/v1/certificates/{cert_id}/download/", {"type": "pfx", "password": "Pfx-pass-1"}, format="json"
    )
    assert pfx.status_code == 200 and pfx["Content-Type"] == "application/x-pkcs12"
    (tmp_path / "cert.pfx").write_bytes(pfx.content)
    info = openssl("pkcs12", "-in", "cert.pfx", "-passin", "pass:Pfx-pass-1", "-nodes", cwd=tmp_path)
    assert info.returncode == 0 and "PRIVATE KEY" in info.stdout and info.stdout.count("BEGIN CERTIFICATE") == 3
    assert AuditEvent.objects.filter(action="certificate.private_key_download", object_id=str(cert_id)).count() == 1
    assert "Pfx-pass-1" not in " ".join(AuditEvent.objects.values_list("summary", flat=True))


def test_a_pfx_needs_a_real_password_and_a_role_that_may_hold_keys(
    api: Any, three: dict[str, Any], ca_account: CAAccount, approver: Any, auditor: Any
) -> None:
    enrollment = issue(
        api, enrollment_payload(ca_account), three["requester"], three["approvers"], three["implementer"]
    )
    url = f"/api/v1/certificates/{enrollment['certificate']}/download/"
    short = api(three["requester"]).post(url, {"type": "pfx", "password": "short"}, format="json")
    assert short.status_code == 400 and "password" in short.json()["errors"]
    for user in (approver, auditor):
        assert api(user).post(url, {"type": "pfx", "password": "long-enough-1"}, format="json").status_code == 403
    assert api(auditor).get(url + "?type=pem").status_code == 200
    assert not AuditEvent.objects.filter(action="certificate.private_key_download").exists()


# --- authorization for each role -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_enrollment_endpoints_per_role(role: str, role_users: dict[str, Any], api: Any, ca_account: CAAccount) -> None:
    client = api(role_users[role])
    create = client.post("/api/v1/enrollments/", enrollment_payload(ca_account), format="json")
    assert create.status_code == (201 if role in ("administrator", "requester") else 403)
    assert client.get("/api/v1/enrollments/").status_code == 200
    accounts = client.get("/api/v1/ca-accounts/")
    assert accounts.status_code == 200
    [builtin] = [a for a in accounts.json()["results"] if a["ca"] == "builtin"]
    assert builtin["name"] == "Built-in CA" and [t["name"] for t in builtin["templates"]] == ["server", "client"]
    prefill = client.post("/api/v1/enrollments/csr-prefill/", {"csr": "junk"}, format="json")
    assert prefill.status_code == (400 if role in ("administrator", "requester") else 403)


def test_anonymous_callers_are_refused(api: Any, ca_account: CAAccount) -> None:
    assert api(None).get("/api/v1/ca-accounts/").status_code == 401
    assert api(None).post("/api/v1/enrollments/", enrollment_payload(ca_account), format="json").status_code == 401
    assert api(None).get("/api/v1/certificates/1/download/").status_code == 401


def test_the_openapi_schema_documents_the_enrollment_api(api: Any, admin_user: Any) -> None:
    schema = api(admin_user).get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/enrollments/",
        "/api/v1/ca-accounts/",
        "/api/v1/work-orders/{id}/approve/",
        "/api/v1/work-orders/{id}/implement/",
        "/api/v1/certificates/{id}/revoke/",
    ):
        assert path in schema["paths"], path
