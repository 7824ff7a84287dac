"""Onboarding rules (reference Tables 1-5) enforced by the services that the form, the API and the import share."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from clm.api.errors import Conflict
from clm.models import AuditEvent, Job
from devices.choices import (
    CredentialType,
    DeviceStatus,
    FolderCredentialMode,
    FolderCredentialType,
    GatewayLocation,
    GatewayMode,
    GatewayType,
)
from devices.models import INTEGRATED_GATEWAY_NAME, Device, Gateway
from devices.services import (
    DeviceInput,
    device_create,
    device_delete,
    device_update,
    gateway_create,
    gateway_delete,
    gateway_integrated,
    gateway_update,
)
from devices.sessions import CredentialUnavailable, GatewayUnsupported, device_endpoint, device_folder_credential
from devices.validation import device_probe
from tests.devices.helpers import ca_pem, client_pfx, gateway_input, manual_input
from vaults.services import credential_create, password_vault_create

pytestmark = pytest.mark.django_db


def errors_of(data: DeviceInput, instance: Device | None = None) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        if instance is None:
            device_create(data=data, validate=False)
        else:
            device_update(device=instance, data=data, validate=False)
    return caught.value.message_dict


def test_a_device_is_onboarded_pending_on_the_integrated_gateway_with_its_password_encrypted() -> None:
    device = device_create(data=manual_input(), validate=False)
    assert device.status == DeviceStatus.PENDING
    assert device.gateway.name == INTEGRATED_GATEWAY_NAME and device.gateway.queue == "devices"
    assert device.certificate_store is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM devices_device WHERE id = %s", [device.pk])
        raw = cursor.fetchone()[0]
    assert "Sw0rdfish" not in raw and raw.startswith("gAAAA")
    assert Device.objects.get(pk=device.pk).password == "Sw0rdfish-$@!"
    assert AuditEvent.objects.filter(action="device.create", object_id=str(device.pk)).exists()


def test_saving_queues_a_validation_on_the_gateways_queue(django_capture_on_commit_callbacks: Any) -> None:
    gateway = gateway_create(data=gateway_input("dmz"))
    data = manual_input(gateway_mode=GatewayMode.EXTERNAL, gateway=gateway)
    with django_capture_on_commit_callbacks(execute=False):
        device = device_create(data=data)
    job = Job.objects.get(kind="devices.validate")
    assert job.queue == "gw.dmz"
    assert job.params == {"validation": device.validations.get().pk, "device": device.pk}


def test_name_and_hostname_are_mandatory_and_the_name_unique() -> None:
    errors = errors_of(DeviceInput())
    assert set(errors) >= {"name", "hostname", "username", "password"}
    device_create(data=manual_input("iis-01"), validate=False)
    assert "already exists" in errors_of(manual_input("IIS-01"))["name"][0]


@pytest.mark.parametrize("hostname", ["https://iis.example.test", "iis.example.test:5986", "iis example", "a/b"])
def test_a_hostname_is_a_name_or_address_only(hostname: str) -> None:
    assert "hostname" in errors_of(manual_input(hostname=hostname))


@pytest.mark.parametrize("hostname", ["iis01", "iis01.corp.example.test", "10.1.2.3", "2001:db8::5", "[2001:db8::5]"])
def test_names_and_addresses_are_accepted_as_hostname(hostname: str) -> None:
    assert device_create(data=manual_input(hostname=hostname), validate=False).pk


@pytest.mark.parametrize("provider", ["hashicorp", "cyberark", "beyondtrust", "thycotic"])
def test_an_external_vault_credential_is_refused_with_a_clear_message(provider: str) -> None:
    data = manual_input(
        credential_type=CredentialType.VAULT, vault_provider=provider, vault_path="secret/iis", vault_key="pw"
    )
    message = errors_of(data)["credential_type"][0]
    assert "not available yet" in message and "external vault" in message
    assert not Device.objects.exists()


def test_an_external_vault_folder_credential_is_refused_too() -> None:
    data = manual_input(
        file_system_path="\\\\fs01\\pki",
        folder_credential_mode=FolderCredentialMode.NEW,
        folder_credential_type=FolderCredentialType.VAULT,
        folder_vault_provider="cyberark",
    )
    assert "not available yet" in errors_of(data)["folder_credential_type"][0]


def test_a_credential_list_entry_is_used_by_reference() -> None:
    entry = credential_create(name="svc", username="CORP\\svc", password="entry-pass")
    device = device_create(
        data=manual_input(credential_type=CredentialType.CREDENTIAL_LIST, credential=entry), validate=False
    )
    assert (device.credential_id, device.username, device.password) == (entry.pk, "", None)
    endpoint = device_endpoint(device)
    assert (endpoint.username, endpoint.password) == ("CORP\\svc", "entry-pass")
    assert "credential" in errors_of(manual_input("b", credential_type=CredentialType.CREDENTIAL_LIST))


def test_gateway_credential_needs_a_gateway_that_has_one() -> None:
    message = errors_of(manual_input(credential_type=CredentialType.GATEWAY))["credential_type"][0]
    assert "has no gateway credential" in message
    gateway_update(gateway=gateway_integrated(), data=gateway_input(username="CORP\\gw", password="gw-pass"))
    device = device_create(data=manual_input(credential_type=CredentialType.GATEWAY), validate=False)
    assert (device_endpoint(device).username, device_endpoint(device).password) == ("CORP\\gw", "gw-pass")


@pytest.mark.parametrize(("scheme", "verify"), [("http", True), ("https", False)])
def test_basic_without_protection_needs_the_explicit_opt_in(scheme: str, verify: bool) -> None:
    data = manual_input(winrm_scheme=scheme, winrm_auth="basic", verify_tls=verify)
    assert "sends the password unprotected" in errors_of(data)["allow_basic_over_http"][0]
    data = manual_input(winrm_scheme=scheme, winrm_auth="basic", verify_tls=verify, allow_basic_over_http=True)
    device = device_create(data=data, validate=False)
    assert device.allow_basic_over_http is True
    assert device_endpoint(device).allow_basic_over_http is True


def test_basic_over_verified_https_needs_no_opt_in_and_the_opt_in_is_dropped_for_other_auth() -> None:
    assert device_create(data=manual_input(winrm_auth="basic"), validate=False).pk
    device = device_create(data=manual_input("b", winrm_auth="ntlm", allow_basic_over_http=True), validate=False)
    assert device.allow_basic_over_http is False


def test_a_ca_bundle_must_be_pem_certificates() -> None:
    assert "PEM" in errors_of(manual_input(ca_bundle="not a certificate"))["ca_bundle"][0]
    pem = ca_pem()
    device = device_create(data=manual_input(ca_bundle=pem), validate=False)
    assert device_endpoint(device).ca_bundle == pem.strip()


@pytest.mark.parametrize("path", ["C:\\Certs", "D:\\pki\\incoming", "\\\\fs01\\pki", "\\\\fs01.corp\\pki\\renewals"])
def test_one_local_folder_or_one_share_is_a_location(path: str) -> None:
    device = device_create(data=manual_input(file_system_path=path), validate=False)
    assert device.file_system_path == path
    assert device.file_system_is_share == path.startswith("\\\\")


@pytest.mark.parametrize("path", ["certs", "C:certs", "C:\\a;\\\\fs\\b", "\\\\fs01", "C:\\*.pfx", "/etc/pki"])
def test_a_location_that_is_not_one_absolute_folder_or_share_is_refused(path: str) -> None:
    assert "file_system_path" in errors_of(manual_input(file_system_path=path))


def test_folder_credentials_new_manual_and_from_the_list() -> None:
    missing = manual_input(file_system_path="\\\\fs01\\pki", folder_credential_mode=FolderCredentialMode.NEW)
    assert set(errors_of(missing)) == {"folder_username", "folder_password"}
    vault = password_vault_create(name="pfx", passwords=["a1", "b2"])
    data = manual_input(
        file_system_path="\\\\fs01\\pki",
        password_vault=vault,
        folder_credential_mode=FolderCredentialMode.NEW,
        folder_username="LAB\\svc-pki",
        folder_password="Share-Pass-1",
    )
    device = device_create(data=data, validate=False)
    assert device.password_vault == vault
    credential = device_folder_credential(device)
    assert credential is not None and (credential.username, credential.password) == ("LAB\\svc-pki", "Share-Pass-1")
    entry = credential_create(name="share", username="LAB\\share", password="from-list")
    data = manual_input(
        "b",
        file_system_path="\\\\fs01\\pki",
        folder_credential_mode=FolderCredentialMode.NEW,
        folder_credential_type=FolderCredentialType.CREDENTIAL_LIST,
        folder_credential=entry,
    )
    folder = device_folder_credential(device_create(data=data, validate=False))
    assert folder is not None and folder.password == "from-list"


def test_folder_credential_defaults_to_the_device_credential_and_a_local_folder_needs_none() -> None:
    share = device_create(data=manual_input(file_system_path="\\\\fs01\\pki"), validate=False)
    assert device_folder_credential(share).username == "EXAMPLE\\svc-iis"  # type: ignore[union-attr]
    local = device_create(data=manual_input("b", file_system_path="C:\\certs"), validate=False)
    assert device_folder_credential(local) is None


def test_without_a_file_system_location_the_folder_fields_are_not_kept() -> None:
    data = manual_input(
        folder_credential_mode=FolderCredentialMode.NEW, folder_username="x", folder_password="y", password_vault=None
    )
    device = device_create(data=data, validate=False)
    assert (device.folder_credential_mode, device.folder_username, device.folder_password) == ("device", "", None)


def test_secrets_left_empty_on_edit_are_kept_and_a_new_one_replaces_them() -> None:
    device = device_create(data=manual_input(), validate=False)
    edit = DeviceInput.from_device(device)
    assert edit.password is None
    edit.data_center = "dc-west"
    device = device_update(device=device, data=edit, validate=False)
    assert (device.data_center, Device.objects.get(pk=device.pk).password) == ("dc-west", "Sw0rdfish-$@!")
    edit.password = "N3w-pass"
    device_update(device=device, data=edit, validate=False)
    assert Device.objects.get(pk=device.pk).password == "N3w-pass"


def test_switching_to_manual_needs_a_password_again() -> None:
    entry = credential_create(name="svc", username="u", password="p")
    device = device_create(
        data=manual_input(credential_type=CredentialType.CREDENTIAL_LIST, credential=entry), validate=False
    )
    edit = DeviceInput.from_device(device)
    edit.credential_type, edit.username = CredentialType.MANUAL, "u2"
    assert "password" in errors_of(edit, device)


def test_a_new_external_gateway_is_created_with_the_device() -> None:
    pfx = client_pfx(password="gw-pfx")
    data = manual_input(
        gateway_mode=GatewayMode.EXTERNAL,
        gateway_select="new",
        new_gateway=gateway_input(
            "branch-office",
            location=GatewayLocation.LOCAL_SYSTEM,
            fqdn="gw01.branch.test",
            port=8443,
            client_certificate=pfx,
            client_certificate_password="gw-pfx",
        ),
    )
    device = device_create(data=data, validate=False)
    gateway = device.gateway
    assert (gateway.name, gateway.mode, gateway.queue, gateway.fqdn, gateway.port) == (
        "branch-office",
        GatewayMode.EXTERNAL,
        "gw.branch-office",
        "gw01.branch.test",
        8443,
    )
    assert gateway.client_certificate_subject == "CN=gateway-client"
    assert len(gateway.client_certificate_thumbprint) == 40
    assert bytes(Gateway.objects.get(pk=gateway.pk).client_certificate) == pfx
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_certificate FROM devices_gateway WHERE id = %s", [gateway.pk])
        assert cursor.fetchone()[0].startswith("gAAAA")


def test_new_gateway_errors_name_the_new_gateway_fields_and_nothing_is_created() -> None:
    data = manual_input(
        gateway_mode=GatewayMode.EXTERNAL,
        gateway_select="new",
        new_gateway=gateway_input(
            "Bad Name!", url="ftp://x", location=GatewayLocation.LOCAL_SYSTEM, client_certificate=b"junk"
        ),
    )
    errors = errors_of(data)
    assert {"new_gateway_name", "new_gateway_url", "new_gateway_fqdn", "new_gateway_port"} <= set(errors)
    assert "not a PFX" in errors["new_gateway_client_certificate"][0]
    assert not Gateway.objects.filter(mode=GatewayMode.EXTERNAL).exists() and not Device.objects.exists()


def test_an_existing_gateway_must_be_an_external_one() -> None:
    data = manual_input(gateway_mode=GatewayMode.EXTERNAL, gateway=gateway_integrated())
    assert "external gateway" in errors_of(data)["gateway"][0]
    assert "gateway" in errors_of(manual_input(gateway_mode=GatewayMode.EXTERNAL))


def test_a_wmi_gateway_is_stored_but_cannot_build_a_session() -> None:
    gateway = gateway_create(data=gateway_input("legacy", gateway_type=GatewayType.WMI))
    device = device_create(data=manual_input(gateway_mode=GatewayMode.EXTERNAL, gateway=gateway), validate=False)
    with pytest.raises(GatewayUnsupported, match="WMI"):
        device_endpoint(device)


def test_the_session_factory_refuses_a_stored_vault_reference() -> None:
    device = device_create(data=manual_input(), validate=False)
    Device.objects.filter(pk=device.pk).update(credential_type=CredentialType.VAULT, vault_provider="hashicorp")
    with pytest.raises(CredentialUnavailable, match="HashiCorp"):
        device_endpoint(Device.objects.get(pk=device.pk))


def test_the_integrated_gateway_is_unique_named_and_cannot_be_deleted() -> None:
    integrated = gateway_integrated()
    assert (integrated.name, integrated.mode, integrated.gateway_type, integrated.location) == (
        "integrated-gateway",
        "integrated",
        "powershell",
        "remote",
    )
    with pytest.raises(Conflict):
        gateway_delete(gateway=integrated)
    with pytest.raises(ValidationError):
        gateway_create(data=gateway_input("integrated-gateway"))


def test_a_gateway_in_use_cannot_be_deleted_or_renamed() -> None:
    gateway = gateway_create(data=gateway_input("dmz"))
    device_create(data=manual_input(gateway_mode=GatewayMode.EXTERNAL, gateway=gateway), validate=False)
    with pytest.raises(Conflict, match="iis-01"):
        gateway_delete(gateway=gateway)
    with pytest.raises(ValidationError, match="keeps its name"):
        gateway_update(gateway=gateway, data=gateway_input("dmz2"))
    unused = gateway_create(data=gateway_input("spare"))
    gateway_delete(gateway=unused)
    assert not Gateway.objects.filter(name="spare").exists()


def test_deleting_a_device_removes_it_with_an_audit_comment() -> None:
    device = device_create(data=manual_input(), validate=False)
    device_delete(device=device, comment="decommissioned")
    assert not Device.objects.exists()
    assert "decommissioned" in AuditEvent.objects.get(action="device.delete").summary


def test_validation_of_a_wmi_gateway_device_fails_with_a_clear_reason_before_any_connection() -> None:
    gateway = gateway_create(data=gateway_input("legacy", gateway_type=GatewayType.WMI))
    device = device_create(data=manual_input(gateway_mode=GatewayMode.EXTERNAL, gateway=gateway), validate=False)
    outcome = device_probe(device)
    assert outcome.status == DeviceStatus.FAILED
    assert "WMI" in outcome.reason and "use a PowerShell gateway" in outcome.reason
    assert [e["outcome"] for e in outcome.log] == ["failed", "not_run", "not_run", "not_run"]


def test_validation_of_a_stored_vault_reference_fails_naming_the_vault() -> None:
    device = device_create(data=manual_input(), validate=False)
    Device.objects.filter(pk=device.pk).update(credential_type=CredentialType.VAULT, vault_provider="thycotic")
    outcome = device_probe(Device.objects.get(pk=device.pk))
    assert outcome.status == DeviceStatus.FAILED and "Thycotic" in outcome.reason
