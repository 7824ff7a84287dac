"""The credential list and password vaults: encrypted at rest, write-only in the API, protected while in use,
administrators only (auditors read), and the same through the pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from devices.choices import CredentialType, FolderCredentialMode, FolderCredentialType
from devices.services import device_create
from tests.devices.helpers import manual_input
from tests.fixtures.users import PASSWORD
from vaults.models import Credential, PasswordVault
from vaults.selectors import password_vault_passwords
from vaults.services import credential_create, password_vault_create

pytestmark = pytest.mark.django_db
SECRET = "Cr3d-List-S3cret!"


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def test_a_credential_is_encrypted_at_rest_and_never_returned(admin_user: Any, api: Any) -> None:
    client = api(admin_user)
    response = client.post(
        "/api/v1/credentials/", {"name": "svc-iis", "username": "CORP\\svc-iis", "password": SECRET}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body and SECRET not in response.content.decode()
    assert SECRET not in raw_column("vaults_credential", "password", body["id"])
    assert Credential.objects.get(pk=body["id"]).password == SECRET
    listing = client.get("/api/v1/credentials/")
    assert SECRET not in listing.content.decode() and listing.json()["results"][0]["username"] == "CORP\\svc-iis"


def test_an_empty_password_on_update_keeps_the_stored_one(admin_user: Any, api: Any) -> None:
    credential = credential_create(name="svc", username="u", password=SECRET)
    response = api(admin_user).patch(
        f"/api/v1/credentials/{credential.pk}/", {"username": "u2", "password": ""}, format="json"
    )
    assert response.status_code == 200
    credential.refresh_from_db()
    assert (credential.username, credential.password) == ("u2", SECRET)


def test_bad_input_names_the_field_and_stores_nothing(admin_user: Any, api: Any) -> None:
    credential_create(name="taken", username="u", password="p")
    response = api(admin_user).post("/api/v1/credentials/", {"name": "TAKEN", "username": ""}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "username", "password"}
    assert Credential.objects.count() == 1


def test_a_credential_in_use_cannot_be_deleted(admin_user: Any, api: Any) -> None:
    used = credential_create(name="used", username="u", password="p")
    device_create(
        data=manual_input("iis-a", credential_type=CredentialType.CREDENTIAL_LIST, credential=used), validate=False
    )
    folder = credential_create(name="folder", username="u", password="p")
    device_create(
        data=manual_input(
            "iis-b",
            file_system_path="\\\\fs\\pki",
            folder_credential_mode=FolderCredentialMode.NEW,
            folder_credential_type=FolderCredentialType.CREDENTIAL_LIST,
            folder_credential=folder,
        ),
        validate=False,
    )
    client = api(admin_user)
    for entry, device in ((used, "iis-a"), (folder, "iis-b")):
        response = client.delete(f"/api/v1/credentials/{entry.pk}/")
        assert response.status_code == 409
        assert device in response.json()["detail"]
    free = credential_create(name="free", username="u", password="p")
    assert client.delete(f"/api/v1/credentials/{free.pk}/").status_code == 204
    assert set(Credential.objects.values_list("name", flat=True)) == {"used", "folder"}


def test_password_vaults_keep_their_passwords_encrypted_and_hidden(admin_user: Any, api: Any) -> None:
    client = api(admin_user)
    response = client.post(
        "/api/v1/password-vaults/", {"name": "pfx", "passwords": ["Pfx-One-1", "Pfx-Two-2"]}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["password_count"] == 2 and "Pfx-One" not in response.content.decode()
    assert "Pfx-One" not in raw_column("vaults_passwordvault", "passwords", body["id"])
    assert password_vault_passwords(vault_id=body["id"]) == ["Pfx-One-1", "Pfx-Two-2"]
    assert client.patch(f"/api/v1/password-vaults/{body['id']}/", {"name": "pfx2"}, format="json").status_code == 200
    assert password_vault_passwords(vault_id=body["id"]) == ["Pfx-One-1", "Pfx-Two-2"]
    assert client.post("/api/v1/password-vaults/", {"name": "empty", "passwords": []}, format="json").status_code == 400


def test_a_password_vault_in_use_cannot_be_deleted(admin_user: Any, api: Any) -> None:
    vault = password_vault_create(name="pfx", passwords=["a1b2"])
    device_create(data=manual_input(file_system_path="C:\\certs", password_vault=vault), validate=False)
    assert api(admin_user).delete(f"/api/v1/password-vaults/{vault.pk}/").status_code == 409
    assert PasswordVault.objects.filter(pk=vault.pk).exists()


ROLES = ["administrator", "requester", "approver", "implementer", "auditor"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["/api/v1/credentials/", "/api/v1/password-vaults/"])
def test_only_administrators_manage_and_auditors_read_credentials(
    role: str, path: str, role_users: dict[str, Any], api: Any
) -> None:
    client = api(role_users[role])
    reads = client.get(path).status_code
    assert reads == (200 if role in ("administrator", "auditor") else 403)
    body = {"name": f"n-{role}", "username": "u", "password": "p", "passwords": ["p1"]}
    assert client.post(path, body, format="json").status_code == (201 if role == "administrator" else 403)


def test_anonymous_callers_are_refused(api: Any) -> None:
    assert api(None).get("/api/v1/credentials/").status_code == 401


def page_client(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_the_credential_list_page_adds_edits_and_refuses_to_delete_one_in_use(admin_user: Any) -> None:
    client = page_client(admin_user)
    assert "No credentials yet" in client.get("/settings/credentials/").content.decode()
    response = client.post("/settings/credentials/add/", {"name": "svc", "username": "CORP\\svc", "password": SECRET})
    assert response.status_code == 302
    credential = Credential.objects.get(name="svc")
    page = client.get("/settings/credentials/").content.decode()
    assert "CORP\\svc" in page and SECRET not in page
    edit = client.get(f"/settings/credentials/{credential.pk}/edit/").content.decode()
    assert SECRET not in edit and "Leave empty to keep" in edit
    client.post(
        f"/settings/credentials/{credential.pk}/edit/", {"name": "svc", "username": "CORP\\svc2", "password": ""}
    )
    credential.refresh_from_db()
    assert (credential.username, credential.password) == ("CORP\\svc2", SECRET)
    device_create(data=manual_input(credential_type="credential_list", credential=credential), validate=False)
    page = client.post(f"/settings/credentials/{credential.pk}/delete/", follow=True).content.decode()
    assert "is in use by 1 device(s): iis-01" in page
    assert Credential.objects.filter(pk=credential.pk).exists()


def test_the_credential_form_redisplays_errors_and_keeps_what_was_typed(admin_user: Any) -> None:
    response = page_client(admin_user).post("/settings/credentials/add/", {"name": "x", "username": "", "password": ""})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Enter the user name." in page and "Enter the password." in page and 'value="x"' in page


def test_the_password_vault_pages(admin_user: Any) -> None:
    client = page_client(admin_user)
    client.post("/settings/credentials/password-vaults/add/", {"name": "pfx", "passwords": "one-1\r\ntwo-2\r\n"})
    vault = PasswordVault.objects.get(name="pfx")
    assert vault.password_list() == ["one-1", "two-2"]
    page = client.get("/settings/credentials/").content.decode()
    assert "one-1" not in page and "pfx" in page
    client.post(f"/settings/credentials/password-vaults/{vault.pk}/edit/", {"name": "pfx", "passwords": ""})
    assert PasswordVault.objects.get(pk=vault.pk).password_list() == ["one-1", "two-2"]


@pytest.mark.parametrize("role", ["requester", "approver", "implementer", "auditor"])
def test_the_credential_pages_are_for_administrators(role: str, role_users: dict[str, Any]) -> None:
    client = page_client(role_users[role])
    assert client.get("/settings/credentials/").status_code == 403
    assert client.post("/settings/credentials/add/", {"name": "a", "username": "u", "password": "p"}).status_code == 403
