"""Discovery rules and access control rules: what a filter matches, and the API that keeps them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from certificates.bulk import FoundLocation
from certificates.models import CertificateGroup
from discovery.rules import AccessRule, RuleFilter, access_rule_group
from tests.certificates.factories import make_cert

NOW = datetime.now(UTC)
STORE = FoundLocation(kind="store", key="store:My:X", sha256="x", store="My")
WEB = FoundLocation(kind="store", key="store:WebHosting:X", sha256="x", store="WebHosting")
FILE = FoundLocation(kind="file", key="file:c:\\certs\\a.pfx", sha256="x", path="C:\\Certs\\a.pfx")


@pytest.fixture(scope="module")
def shop() -> Any:
    return make_cert("shop.example.test", days=20, issuer="Contoso Issuing CA 2")


@pytest.mark.parametrize(
    ("rule", "location", "matches"),
    [
        ({}, STORE, True),
        ({"issuer_contains": "contoso"}, STORE, True),
        ({"issuer_contains": "fabrikam"}, STORE, False),
        ({"subject_pattern": "*.example.test"}, STORE, True),
        ({"subject_pattern": "alt.shop.*"}, STORE, True),  # a SAN matches too
        ({"subject_pattern": "*.other.test"}, STORE, False),
        ({"key_types": ["ec"]}, STORE, True),
        ({"key_types": ["rsa"]}, STORE, False),
        ({"min_key_size": 384}, STORE, False),
        ({"max_key_size": 256}, STORE, True),
        ({"expires_within_days": 30}, STORE, True),
        ({"expires_within_days": 10}, STORE, False),
        ({"location_pattern": "WebHosting"}, STORE, False),
        ({"location_pattern": "WebHosting"}, WEB, True),
        ({"location_pattern": "c:\\certs\\*.pfx"}, FILE, True),
        ({"location_pattern": "D:\\*"}, FILE, False),
    ],
)
def test_every_filter_that_is_set_must_match(shop: Any, rule: dict, location: FoundLocation, matches: bool) -> None:
    assert RuleFilter.of(rule).matches(shop, location, NOW) is matches


def test_a_locked_file_is_judged_by_its_location_only() -> None:
    rule = RuleFilter.of({"issuer_contains": "contoso", "location_pattern": "C:\\Certs\\*"})
    assert rule.matches(None, FILE, NOW) is True


def test_the_first_matching_access_rule_gives_the_group(shop: Any) -> None:
    rules = [
        AccessRule(group_id=1, filter=RuleFilter.of({"subject_pattern": "*.other.test"})),
        AccessRule(group_id=2, filter=RuleFilter.of({"issuer_contains": "Contoso"})),
        AccessRule(group_id=3, filter=RuleFilter.of({})),
    ]
    assert access_rule_group(rules, shop, [STORE], NOW) == 2
    assert access_rule_group(rules[:1], shop, [STORE], NOW) is None


def test_rules_are_kept_through_the_api_with_field_errors(api: Any, admin_user: Any, auditor: Any) -> None:
    client = api(admin_user)
    rule = client.post(
        "/api/v1/discovery-rules/",
        {"name": "Expiring web", "subject_pattern": "*.example.test", "key_types": ["rsa"], "expires_within_days": 30},
        format="json",
    )
    assert rule.status_code == 201, rule.json()
    bad = client.post(
        "/api/v1/discovery-rules/", {"name": "bad", "min_key_size": 4096, "max_key_size": 2048}, format="json"
    )
    assert bad.status_code == 400 and "max_key_size" in bad.json()["errors"]
    group = CertificateGroup.objects.create(name="Payments")
    access = client.post(
        "/api/v1/access-control-rules/",
        {"name": "payments", "priority": 5, "group": group.pk, "subject_pattern": "*.pay.test"},
        format="json",
    )
    assert access.status_code == 201, access.json()
    no_group = client.post("/api/v1/access-control-rules/", {"name": "orphan"}, format="json")
    assert no_group.status_code == 400 and "group" in no_group.json()["errors"]
    assert api(auditor).get("/api/v1/discovery-rules/").status_code == 200
    assert api(auditor).post("/api/v1/discovery-rules/", {"name": "x"}, format="json").status_code == 403


def test_a_rule_in_use_cannot_be_deleted(api: Any, admin_user: Any) -> None:
    from discovery.services import DiscoveryInput, discovery_rule_save, discovery_save
    from tests.certificates.factories import devices

    rule = discovery_rule_save(data={"name": "in use"}, user=None)
    (device,) = devices(1)
    discovery_save(data=DiscoveryInput(name="uses it", devices=[device.pk], rule=rule.pk), user=None)
    response = api(admin_user).delete(f"/api/v1/discovery-rules/{rule.pk}/")
    assert response.status_code == 409 and "uses it" in response.json()["detail"]
