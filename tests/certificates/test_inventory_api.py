"""The inventory API (API.md "Inventory"): fields, filters, ordering, keyset pages, errors, and who may do what."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from django.db import connection
from django.test.utils import CaptureQueriesContext

from certificates.models import Certificate, CertificateGroup, Policy
from certificates.selectors import group_default
from tests.certificates.factories import devices, make_cert, make_certs, record

ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.fixture
def inventory(db: Any) -> dict[str, Any]:
    """Two devices; a server and a client certificate, one expiring soon, one bound, one not yet in inventory."""
    web, app = devices(2)
    soon = make_cert("soon.example.test", days=10)
    later = make_cert("later.example.test", days=300, rsa_bits=2048)
    client = make_cert("robot.example.test", client=True)
    hidden = make_cert("hidden.example.test")
    record(web, [soon, later], bound=1)
    record(app, [later, client])
    record(app, [hidden], status="discovered")
    return {"web": web, "app": app, "soon": soon, "later": later, "client": client, "hidden": hidden}


def _names(response: Any) -> set[str]:
    assert response.status_code == 200, response.json()
    return {c["common_name"] for c in response.json()["results"]}


def test_a_certificate_has_the_fields_of_the_contract(api: Any, auditor: Any, inventory: dict) -> None:
    data = api(auditor).get(f"/api/v1/certificates/?thumbprint={inventory['soon'].thumbprint}").json()["results"][0]
    for field in (
        "id", "common_name", "subject", "issuer", "serial", "sans", "key_type", "key_size", "signature_hash",
        "not_before", "not_after", "thumbprint", "sha256", "has_private_key", "status", "group", "parent",
        "locations", "connectors",
    ):  # fmt: skip
        assert field in data, field
    assert data["thumbprint"] == inventory["soon"].thumbprint and data["thumbprint"].isupper()
    assert data["sans"] == {"dns": ["soon.example.test", "alt.soon.example.test"], "ip": []}
    assert data["group"] == group_default().pk and data["connectors"] == []
    location = data["locations"][0]
    assert location["device"] == inventory["web"].pk and location["store"] == "My" and "path" not in location
    binding = location["bindings"][0]
    assert (binding["site"], binding["port"], binding["host"], binding["sni"]) == (
        "Site soon.example.test",
        443,
        "soon.example.test",
        True,
    )


def test_filters_narrow_the_list(api: Any, auditor: Any, inventory: dict) -> None:
    client = api(auditor)
    everything = {"soon.example.test", "later.example.test", "robot.example.test"}
    assert _names(client.get("/api/v1/certificates/")) == everything
    assert _names(client.get("/api/v1/certificates/?common_name=LATER")) == {"later.example.test"}
    colons = ":".join(inventory["soon"].thumbprint[i : i + 2] for i in range(0, 40, 2)).lower()
    assert _names(client.get(f"/api/v1/certificates/?thumbprint={colons}")) == {"soon.example.test"}
    assert _names(client.get(f"/api/v1/certificates/?device={inventory['web'].pk}")) == {
        "soon.example.test",
        "later.example.test",
    }
    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    assert _names(client.get(f"/api/v1/certificates/?expires_before={soon}")) == {"soon.example.test"}
    assert _names(client.get("/api/v1/certificates/?in_use=true")) == {"soon.example.test"}
    assert _names(client.get("/api/v1/certificates/?in_use=false")) == everything - {"soon.example.test"}
    assert _names(client.get("/api/v1/certificates/?kind=client")) == {"robot.example.test"}
    assert _names(client.get("/api/v1/certificates/?kind=server")) == everything - {"robot.example.test"}
    assert _names(client.get("/api/v1/certificates/?q=alt.later")) == {"later.example.test"}
    assert _names(client.get("/api/v1/certificates/?key_type=rsa")) == {"later.example.test"}
    assert _names(client.get(f"/api/v1/certificates/?group={group_default().pk}")) == everything


def test_certificates_left_out_of_the_inventory_show_only_when_asked(api: Any, auditor: Any, inventory: dict) -> None:
    assert "hidden.example.test" not in _names(api(auditor).get("/api/v1/certificates/"))
    assert _names(api(auditor).get("/api/v1/certificates/?status=discovered")) == {"hidden.example.test"}


def test_keyset_pages_cover_everything_once_in_order(api: Any, auditor: Any, db: Any) -> None:
    (device,) = devices(1)
    record(device, make_certs(23))
    client = api(auditor)
    for ordering in ("-id", "not_after", "-common_name", "locations"):
        seen: list[int] = []
        url = f"/api/v1/certificates/?page_size=5&ordering={ordering}"
        pages = []
        while url:
            page = client.get(url).json()
            pages.append(page)
            seen += [c["id"] for c in page["results"]]
            url = page["next"]
        assert len(seen) == len(set(seen)) == 23, ordering
        assert len(pages) == 5
        back = client.get(pages[-1]["previous"]).json()
        assert [c["id"] for c in back["results"]] == [c["id"] for c in pages[-2]["results"]]
    expiries = [
        c["not_after"] for c in client.get("/api/v1/certificates/?ordering=not_after&page_size=50").json()["results"]
    ]
    assert expiries == sorted(expiries)


def test_the_number_of_queries_does_not_depend_on_the_page_size(api: Any, auditor: Any, db: Any) -> None:
    (device,) = devices(1)
    record(device, make_certs(30), bound=30)
    client = api(auditor)
    counts = []
    for size in (2, 10, 30):
        client.get(f"/api/v1/certificates/?page_size={size}")  # warm caches (default group)
        with CaptureQueriesContext(connection) as captured:
            assert len(client.get(f"/api/v1/certificates/?page_size={size}").json()["results"]) == size
        counts.append(len(captured.captured_queries))
    assert len(set(counts)) == 1, counts


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("ordering=favourite_colour", "ordering"),
        ("cursor=not-a-cursor", "cursor"),
        ("page_size=0", "page_size"),
        ("page_size=9999", "page_size"),
        ("expires_before=next-tuesday", "expires_before"),
        ("group=99999", "group"),
        ("status=revoked-ish", "status"),
        ("attribute==payroll", "attribute"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api: Any, auditor: Any, db: Any, query: str, field: str) -> None:
    response = api(auditor).get(f"/api/v1/certificates/?{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_the_chain_endpoint_returns_pem_leaf_first(api: Any, auditor: Any, inventory: dict) -> None:
    cert = Certificate.objects.get(sha256=inventory["soon"].sha256)
    response = api(auditor).get(f"/api/v1/certificates/{cert.pk}/chain/")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-pem-file"
    assert response.content.startswith(b"-----BEGIN CERTIFICATE-----")


def test_compliance_says_why_a_certificate_breaks_its_group_policy(api: Any, auditor: Any, db: Any) -> None:
    strict = Policy.objects.create(
        name="strict", allowed_key_types=["rsa"], allowed_rsa_sizes=[3072], allowed_hashes=["sha384"],
        max_validity_days=90, default_key_type="rsa", default_key_size=3072, default_hash="sha384",
    )  # fmt: skip
    group = CertificateGroup.objects.create(name="Strict", policy=strict)
    (device,) = devices(1)
    ec_cert = make_cert("ec.example.test", days=200, valid_days=400)
    rsa_cert = make_cert("rsa.example.test", rsa_bits=3072, hash_algorithm=hashes.SHA384(), days=30, valid_days=60)
    record(device, [ec_cert, rsa_cert], group_id=group.pk)
    by_name = {c["common_name"]: c for c in api(auditor).get("/api/v1/certificates/").json()["results"]}
    bad = by_name["ec.example.test"]["compliance"]
    assert bad["compliant"] is False and bad["policy"] == "strict"
    assert any("Key type EC is not allowed" in r for r in bad["reasons"])
    assert any("SHA-256 is not allowed" in r for r in bad["reasons"])
    assert any("400 days is longer than the policy's maximum of 90" in r for r in bad["reasons"])
    assert by_name["rsa.example.test"]["compliance"] == {"compliant": True, "reasons": [], "policy": "strict"}


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_inventory_and_only_administrators_move(
    api: Any, role_users: dict, inventory: dict, role: str
) -> None:
    user = role_users[role]
    client = api(user)
    assert client.get("/api/v1/certificates/").status_code == 200
    hidden = Certificate.objects.get(sha256=inventory["hidden"].sha256)
    response = client.post(f"/api/v1/certificates/{hidden.pk}/move/", {"status": "monitored"}, format="json")
    if role == "administrator":
        assert response.status_code == 200 and response.json() == {"moved": 1}
        hidden.refresh_from_db()
        assert hidden.status == "monitored"
    else:
        assert response.status_code == 403
        hidden.refresh_from_db()
        assert hidden.status == "discovered"


def test_anonymous_callers_get_401(api: Any, db: Any) -> None:
    for path in ("/api/v1/certificates/", "/api/v1/groups/", "/api/v1/policies/"):
        assert api(None).get(path).status_code == 401


def test_moving_many_certificates_names_unknown_ids(api: Any, admin_user: Any, inventory: dict) -> None:
    hidden = Certificate.objects.get(sha256=inventory["hidden"].sha256)
    response = api(admin_user).post(
        "/api/v1/certificates/move/", {"ids": [hidden.pk, 987654], "status": "managed"}, format="json"
    )
    assert response.status_code == 400 and "ids" in response.json()["errors"]
    response = api(admin_user).post(
        "/api/v1/certificates/move/", {"ids": [hidden.pk], "status": "managed", "group": None}, format="json"
    )
    assert response.json() == {"moved": 1}
    assert Certificate.objects.get(pk=hidden.pk).status == "managed"


def test_the_attribute_filter_matches_a_key_and_value_or_a_key(api: Any, auditor: Any, inventory: dict) -> None:
    Certificate.objects.filter(sha256=inventory["soon"].sha256).update(attributes={"app": "payroll", "env": "prod"})
    Certificate.objects.filter(sha256=inventory["later"].sha256).update(attributes={"app": "billing"})
    client = api(auditor)
    assert _names(client.get("/api/v1/certificates/?attribute=app=payroll")) == {"soon.example.test"}
    assert _names(client.get("/api/v1/certificates/?attribute=app")) == {"soon.example.test", "later.example.test"}
    assert _names(client.get("/api/v1/certificates/?attribute=env=test")) == set()
    assert _names(client.get("/api/v1/certificates/?attribute=owner")) == set()
