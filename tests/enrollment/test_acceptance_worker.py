"""Acceptance, with real parts: three users drive an enrollment through the API, a real Celery worker submits the
CSR to the built-in CA, and the issued chain verifies to the built-in root with `openssl verify`."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.enrollment.helpers import builtin_account, enrollment_payload, openssl
from tests.fixtures.users import make_user

pytestmark = pytest.mark.integration


def wait_for_state(client: Any, order_id: int, states: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/work-orders/{order_id}/").json()
        if body["state"] in states:
            return body
        time.sleep(0.2)
    return body


def test_three_users_take_an_enrollment_to_a_certificate_that_openssl_verifies(
    broker: tuple[str, dict[str, Any], str | None], worker_factory: Any, api: Any, tmp_path: Path
) -> None:
    url, _, folder = broker
    account = builtin_account()
    requester = make_user("rita-requester", "requester", "implementer")
    approver_a, approver_b = make_user("april-approver", "approver"), make_user("bruno-approver", "approver")
    worker = worker_factory("enroll", ["default"], url, broker_dir=folder)

    requested_sans = {"dns": ["shop.example.test", "www.shop.example.test"], "ip": ["192.0.2.44"]}
    payload = enrollment_payload(
        account,
        params={
            "common_name": "shop.example.test",
            "sans": requested_sans,
            "key_type": "rsa",
            "key_size": 3072,
            "hash": "sha384",
            "validity": {"value": 60, "unit": "days"},
        },
    )
    created = api(requester).post("/api/v1/enrollments/", payload, format="json")
    assert created.status_code == 201, created.json()
    order_id = created.json()["work_order"]

    assert (
        api(requester).post(f"/api/v1/work-orders/{order_id}/submit/", {}, format="json").json()["state"] == "submitted"
    )
    # The requester cannot approve; approver A gives level 1 and cannot give level 2 as well.
    assert api(requester).post(f"/api/v1/work-orders/{order_id}/approve/", {}, format="json").status_code == 403
    assert api(approver_a).post(f"/api/v1/work-orders/{order_id}/approve/", {}, format="json").json()["state"] == (
        "approved_l1"
    )
    assert api(approver_a).post(f"/api/v1/work-orders/{order_id}/approve/", {}, format="json").status_code == 403
    assert api(approver_b).post(f"/api/v1/work-orders/{order_id}/approve/", {}, format="json").json()["state"] == (
        "approved"
    )
    implemented = api(requester).post(f"/api/v1/work-orders/{order_id}/implement/", {"comment": "go"}, format="json")
    assert implemented.json()["state"] == "in_progress"

    order = wait_for_state(api(requester), order_id, {"completed", "failed"})
    assert order["state"] == "completed", (order, worker.log()[-3000:])
    assert [e["state"] for e in order["events"]] == [
        "draft",
        "submitted",
        "approved_l1",
        "approved",
        "in_progress",
        "completed",
    ]
    certificate_id = order["result"]["certificate"]

    client = api(requester)
    (tmp_path / "leaf.pem").write_bytes(client.get(f"/api/v1/certificates/{certificate_id}/download/?type=pem").content)
    (tmp_path / "root.pem").write_bytes(client.get(f"/pki/{account.pk}/root.pem").content)
    (tmp_path / "issuing.pem").write_bytes(client.get(f"/pki/{account.pk}/issuing.pem").content)
    verdict = openssl("verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "leaf.pem", cwd=tmp_path)
    assert verdict.returncode == 0 and "leaf.pem: OK" in verdict.stdout, verdict.stdout + verdict.stderr

    leaf = x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == requested_sans["dns"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == requested_sans["ip"]
    assert len(list(sans)) == 3  # exactly the requested SANs, nothing added
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey) and leaf.public_key().key_size == 3072
    assert leaf.signature_hash_algorithm is not None and leaf.signature_hash_algorithm.name == "sha384"
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=60)
