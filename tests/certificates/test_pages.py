"""Inventory pages with Django's test client: lists with filters, sorting and keyset pages, saved filters, CSV
export, a certificate's detail, Groups & Policies forms, and the expiry report."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from certificates.models import Certificate, CertificateGroup, Policy, SavedFilter
from tests.certificates.factories import devices, make_cert, make_certs, record
from tests.fixtures.users import PASSWORD


def browser(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.get_username(), password=PASSWORD)
    return client


@pytest.fixture
def stocked(db: Any) -> dict[str, Any]:
    web, app = devices(2)
    soon = make_cert("soon.example.test", days=5)
    later = make_cert("later.example.test", days=200)
    robot = make_cert("robot.example.test", client=True)
    record(web, [soon, later], bound=1)
    record(app, [robot])
    return {"web": web, "soon": soon, "later": later, "robot": robot}


def test_the_server_list_shows_server_certificates_with_badges(auditor: Any, stocked: dict) -> None:
    page = browser(auditor).get("/inventory/server/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "soon.example.test" in html and "later.example.test" in html and "robot.example.test" not in html
    assert "&lt; 30 days" in html  # the expiry badge of the one expiring in 5 days
    assert "2 certificates" in html
    client_html = browser(auditor).get("/inventory/client/").content.decode()
    assert "robot.example.test" in client_html and "soon.example.test" not in client_html


def test_filters_and_search_narrow_the_list_and_bad_filters_say_why(auditor: Any, stocked: dict) -> None:
    client = browser(auditor)
    html = client.get("/inventory/server/?q=LATER").content.decode()
    assert "later.example.test" in html and "soon.example.test" not in html
    html = client.get("/inventory/server/?expires=30").content.decode()
    assert "soon.example.test" in html and "later.example.test" not in html
    html = client.get("/inventory/server/?in_use=true").content.decode()
    assert "soon.example.test" in html and "later.example.test" not in html
    bad = client.get("/inventory/server/?expires_before=whenever")
    assert bad.status_code == 400 and "expires_before" in bad.content.decode()


def test_the_attribute_filter_narrows_the_list_and_keeps_what_was_typed(auditor: Any, stocked: dict) -> None:
    Certificate.objects.filter(sha256=stocked["later"].sha256).update(attributes={"owner": "payments"})
    client = browser(auditor)
    html = client.get("/inventory/server/?attribute=owner%3Dpayments").content.decode()
    assert "later.example.test" in html and "soon.example.test" not in html
    assert 'value="owner=payments"' in html
    bad = client.get("/inventory/server/?attribute=%3Dpayments")
    assert bad.status_code == 400 and "key=value" in bad.content.decode()


def test_sorting_and_keyset_pages(auditor: Any, db: Any) -> None:
    (device,) = devices(1)
    record(device, make_certs(60))
    client = browser(auditor)
    first = client.get("/inventory/server/?o=common_name")
    html = first.content.decode()
    assert first.context["page"].next_cursor and 'rel="next"' in html
    names = [row["certificate"].common_name for row in first.context["rows"]]
    assert names == sorted(names) and len(names) == 50
    second = client.get("/inventory/server/" + first.context["next_url"])
    more = [row["certificate"].common_name for row in second.context["rows"]]
    assert len(more) == 10 and not set(more) & set(names)
    reverse = client.get("/inventory/server/?o=-common_name").context["rows"]
    assert reverse[0]["certificate"].common_name == max(names + more)


def test_a_saved_filter_comes_back_as_a_link(auditor: Any, stocked: dict) -> None:
    client = browser(auditor)
    response = client.post("/inventory/server/saved-filters/", {"name": "Expiring", "query": "expires=30&cursor=abc"})
    assert response.status_code == 302 and response["Location"].endswith("?expires=30")
    saved = SavedFilter.objects.get(user=auditor, name="Expiring")
    assert saved.query == "expires=30"
    html = client.get("/inventory/server/").content.decode()
    assert 'href="?expires=30"' in html
    client.post(f"/inventory/saved-filters/{saved.pk}/delete/")
    assert not SavedFilter.objects.filter(pk=saved.pk).exists()


def test_csv_export_streams_the_filtered_rows(auditor: Any, stocked: dict) -> None:
    response = browser(auditor).get("/inventory/server/?export=csv&q=example")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["Common name", "SANs", "Issuer"]
    assert {r[0] for r in rows[1:]} == {"soon.example.test", "later.example.test"}
    assert rows[1][0] == "soon.example.test"  # soonest expiry first


def test_the_detail_shows_locations_bindings_and_compliance(auditor: Any, stocked: dict) -> None:
    cert = Certificate.objects.get(sha256=stocked["soon"].sha256)
    html = browser(auditor).get(f"/certificates/{cert.pk}/").content.decode()
    assert cert.thumbprint in html
    assert "dev-0" in html and "Cert:\\LocalMachine\\My" in html
    assert "*:443:soon.example.test" in html and "SNI" in html
    assert "Compliant" in html


def test_only_administrators_move_a_certificate(auditor: Any, admin_user: Any, stocked: dict) -> None:
    cert = Certificate.objects.get(sha256=stocked["later"].sha256)
    assert browser(auditor).post(f"/certificates/{cert.pk}/move/", {"status": "monitored"}).status_code == 403
    browser(admin_user).post(f"/certificates/{cert.pk}/move/", {"status": "monitored"})
    assert Certificate.objects.get(pk=cert.pk).status == "monitored"


def test_groups_and_policies_pages_create_and_show_errors(admin_user: Any, db: Any) -> None:
    client = browser(admin_user)
    assert client.get("/groups/").status_code == 200
    bad = client.post(
        "/policies/new/",
        {
            "name": "Strict",
            "allowed_key_types": ["rsa"],
            "allowed_rsa_sizes": ["3072"],
            "allowed_hashes": ["sha256"],
            "max_validity_days": "90",
            "default_key_type": "rsa",
            "default_key_size": "2048",
            "default_hash": "sha256",
            "country": "FR",
            "approval_levels": "2",
        },
    )
    assert bad.status_code == 400
    assert "The default bit length must be one of the allowed RSA key sizes." in bad.content.decode()
    assert 'value="Strict"' in bad.content.decode()  # nothing typed is lost
    good = client.post(
        "/policies/new/",
        {
            "name": "Strict",
            "allowed_key_types": ["rsa"],
            "allowed_rsa_sizes": ["3072"],
            "allowed_hashes": ["sha256"],
            "max_validity_days": "90",
            "default_key_type": "rsa",
            "default_key_size": "3072",
            "default_hash": "sha256",
            "country": "FR",
            "approval_levels": "2",
        },
    )
    assert good.status_code == 302
    policy = Policy.objects.get(name="Strict")
    assert client.post("/groups/new/", {"name": "Payments", "policy": policy.pk}).status_code == 302
    group = CertificateGroup.objects.get(name="Payments")
    assert group.policy == policy
    html = client.get("/groups/").content.decode()
    assert "Payments" in html and "Strict" in html and "RSA 3072" in html
    assert client.post(f"/groups/{group.pk}/delete/").status_code == 302
    assert not CertificateGroup.objects.filter(name="Payments").exists()


@pytest.mark.parametrize("role", ["requester", "approver", "implementer", "auditor"])
def test_other_roles_read_groups_but_cannot_edit(role_users: dict, role: str) -> None:
    client = browser(role_users[role])
    assert client.get("/groups/").status_code == 200
    assert client.get("/groups/new/").status_code == 403
    assert client.get("/policies/new/").status_code == 403


def test_the_expiry_report_has_a_chart_and_its_table(auditor: Any, stocked: dict) -> None:
    page = browser(auditor).get("/reports/expiry/")
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and 'data-testid="expiry-table"' in html
    weeks = page.context["weeks"]
    assert weeks[0]["expired"] and len(weeks) == 27
    assert sum(w["count"] for w in weeks) == 2  # soon (5 days) and robot (90 days); later is past 26 weeks
    assert any(w["count"] == 1 and 'data-count="1"' in html for w in weeks)
