"""Who may open each page and download what, for every role (DESIGN.md §10)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from enrollment.models import CAAccount
from tests.enrollment.helpers import enrollment_payload, issue
from tests.fixtures.users import PASSWORD
from workorders.services import workorder_submit

ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.fixture
def issued(api: Any, requester: Any, approver: Any, approver_b: Any, implementer: Any, ca_account: CAAccount) -> dict:
    return issue(api, enrollment_payload(ca_account), requester, [approver, approver_b], implementer)


def client_for(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.parametrize("role", ROLES)
def test_pages_per_role(role: str, role_users: dict[str, Any], issued: dict, ca_account: CAAccount) -> None:
    client = client_for(role_users[role])
    requests = role in ("administrator", "requester")
    expected = {
        "/enroll/server/": 200 if requests else 403,
        "/enroll/client/": 200 if requests else 403,
        "/work-orders/": 200,
        f"/work-orders/{issued['work_order']}/": 200,
        f"/work-orders/{issued['work_order']}/timeline/": 200,
        f"/certificates/{issued['certificate']}/": 200,
        f"/enrollments/{issued['id']}/": 302,  # issued: on to the certificate's holistic view
        "/settings/ca-accounts/": 200,
        "/notifications/": 200,
        f"/certificates/{issued['certificate']}/download/pem/": 200,
        f"/certificates/{issued['certificate']}/download/pfx/": 200
        if role != "approver" and role != "auditor"
        else 403,
        f"/certificates/{issued['certificate']}/revoke/": 200 if requests else 403,
    }
    got = {url: client.get(url).status_code for url in expected}
    assert got == expected


@pytest.mark.parametrize("role", ROLES)
def test_api_downloads_per_role(role: str, role_users: dict[str, Any], issued: dict, api: Any) -> None:
    client = api(role_users[role])
    url = f"/api/v1/certificates/{issued['certificate']}/download/"
    assert client.get(url + "?type=der").status_code == 200
    pfx = client.post(url, {"type": "pfx", "password": "Long-enough-1"}, format="json")
    # The requester fixture enrolled this certificate; implementers push keys; administrators may do everything.
    assert pfx.status_code == (200 if role in ("administrator", "requester", "implementer") else 403)
    assert client.get(f"/api/v1/enrollments/{issued['id']}/").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_verb_dialogs_open_only_for_who_may_use_them(
    role: str, role_users: dict[str, Any], ca_account: CAAccount, api: Any
) -> None:
    from tests.fixtures.users import make_user

    owner = make_user("dialog-owner", "requester")
    created = api(owner).post("/api/v1/enrollments/", enrollment_payload(ca_account), format="json").json()
    workorder_submit(work_order_id=created["work_order"], user=owner)
    response = client_for(role_users[role]).get(f"/work-orders/{created['work_order']}/approve/")
    assert response.status_code == (200 if role in ("administrator", "approver") else 403)


def test_a_requester_who_did_not_enroll_it_cannot_download_its_key(issued: dict, api: Any) -> None:
    from tests.fixtures.users import make_user

    other = make_user("other-requester", "requester")
    url = f"/api/v1/certificates/{issued['certificate']}/download/"
    assert api(other).post(url, {"type": "pfx", "password": "Long-enough-1"}, format="json").status_code == 403


def test_the_public_ca_files_need_no_sign_in_but_pages_do(issued: dict, ca_account: CAAccount) -> None:
    anonymous = Client()
    assert anonymous.get(f"/pki/{ca_account.pk}/issuing.crl").status_code == 200
    for url in (
        "/enroll/server/",
        "/work-orders/",
        f"/certificates/{issued['certificate']}/",
        "/settings/ca-accounts/",
    ):
        assert anonymous.get(url).status_code == 302, url
