"""Groups & Policies through the API: CRUD with field errors, the default group's protection, policies in use."""

from __future__ import annotations

from typing import Any

import pytest

from certificates.models import Certificate, CertificateGroup, Policy
from certificates.selectors import group_default
from clm.models import AuditEvent
from tests.certificates.factories import devices, make_certs, record

POLICY = {
    "name": "Web servers",
    "description": "TLS for public sites",
    "allowed_key_types": ["rsa", "ec"],
    "allowed_rsa_sizes": [2048, 3072],
    "allowed_ec_curves": ["P-256"],
    "allowed_hashes": ["sha256", "sha384"],
    "max_validity_days": 398,
    "default_key_type": "rsa",
    "default_key_size": 2048,
    "default_hash": "sha256",
    "organization": "Example Ltd",
    "organizational_unit": "Web",
    "locality": "Paris",
    "state": "IDF",
    "country": "FR",
    "approval_levels": 1,
}


def test_an_administrator_creates_a_policy_and_a_group_that_uses_it(api: Any, admin_user: Any) -> None:
    client = api(admin_user)
    policy = client.post("/api/v1/policies/", POLICY, format="json")
    assert policy.status_code == 201, policy.json()
    assert policy.json()["country"] == "FR" and policy.json()["allowed_rsa_sizes"] == [2048, 3072]
    group = client.post(
        "/api/v1/groups/",
        {"name": "Public web", "policy": policy.json()["id"], "renew_automatically": True},
        format="json",
    )
    assert group.status_code == 201, group.json()
    assert group.json()["policy_name"] == "Web servers" and group.json()["renew_automatically"] is True
    assert AuditEvent.objects.filter(action__in=["policy.create", "group.create"]).count() == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"allowed_key_types": []}, "allowed_key_types"),
        ({"allowed_key_types": ["rsa", "dsa-ish"]}, "allowed_key_types"),
        ({"allowed_rsa_sizes": [1536]}, "allowed_rsa_sizes"),
        ({"allowed_ec_curves": ["P-192"]}, "allowed_ec_curves"),
        ({"default_key_size": 4096}, "default_key_size"),
        ({"default_hash": "sha512"}, "default_hash"),
        ({"country": "France"}, "country"),
        ({"max_validity_days": 0}, "max_validity_days"),
        ({"approval_levels": 3}, "approval_levels"),
    ],
)
def test_a_policy_that_contradicts_itself_is_refused_naming_the_field(
    api: Any, admin_user: Any, change: dict, field: str
) -> None:
    response = api(admin_user).post("/api/v1/policies/", {**POLICY, **change}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert not Policy.objects.filter(name="Web servers").exists()


def test_names_are_unique_regardless_of_case(api: Any, admin_user: Any) -> None:
    client = api(admin_user)
    assert client.post("/api/v1/groups/", {"name": "Payments"}, format="json").status_code == 201
    response = client.post("/api/v1/groups/", {"name": "payments"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]


def test_the_default_group_cannot_be_deleted(api: Any, admin_user: Any) -> None:
    response = api(admin_user).delete(f"/api/v1/groups/{group_default().pk}/")
    assert response.status_code == 409
    assert CertificateGroup.objects.filter(is_default=True).exists()


def test_deleting_a_group_moves_its_certificates_to_the_default_group(api: Any, admin_user: Any) -> None:
    team = CertificateGroup.objects.create(name="Team")
    (device,) = devices(1)
    record(device, make_certs(3), group_id=team.pk)
    assert api(admin_user).delete(f"/api/v1/groups/{team.pk}/").status_code == 204
    assert set(Certificate.objects.values_list("group_id", flat=True)) == {group_default().pk}


def test_a_policy_in_use_cannot_be_deleted(api: Any, admin_user: Any) -> None:
    policy = Policy.objects.create(name="Used")
    CertificateGroup.objects.create(name="User of it", policy=policy)
    response = api(admin_user).delete(f"/api/v1/policies/{policy.pk}/")
    assert response.status_code == 409 and "User of it" in response.json()["detail"]
    unused = Policy.objects.create(name="Unused")
    assert api(admin_user).delete(f"/api/v1/policies/{unused.pk}/").status_code == 204


def test_group_lists_count_their_certificates(api: Any, auditor: Any) -> None:
    team = CertificateGroup.objects.create(name="Counted")
    (device,) = devices(1)
    record(device, make_certs(2), group_id=team.pk)
    groups = {g["name"]: g for g in api(auditor).get("/api/v1/groups/").json()["results"]}
    assert groups["Counted"]["certificate_count"] == 2
    assert groups[group_default().name]["is_default"] is True


@pytest.mark.parametrize("role", ["requester", "approver", "implementer", "auditor"])
def test_only_administrators_change_groups_and_policies(api: Any, role_users: dict, role: str) -> None:
    client = api(role_users[role])
    assert client.get("/api/v1/groups/").status_code == 200
    assert client.get("/api/v1/policies/").status_code == 200
    assert client.post("/api/v1/groups/", {"name": "Nope"}, format="json").status_code == 403
    assert client.post("/api/v1/policies/", POLICY, format="json").status_code == 403
    assert client.delete(f"/api/v1/groups/{group_default().pk}/").status_code == 403
