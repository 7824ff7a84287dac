"""Validation end to end: devices onboarded through the API, validated by a real Celery worker (Redis broker,
PostgreSQL) against the simulated IIS hosts over real WinRM and real TLS. Nothing is faked.

Covers the acceptance of issue 4: each demo host Managed with a complete Device Status Log; Unresolved for an address
where nothing answers and for a name that does not resolve; Failed with "authentication failed" for a wrong password;
Failed with the TLS reason for an untrusted HTTPS certificate; Basic over plain HTTP refused unless opted in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devices.choices import CertSync
from devices.models import Device
from iissim.lab import Lab
from iissim.model.host import StepFailure
from tests.devices.helpers import wait_for
from tests.devices.labs import (
    DEMO_HOSTS,
    SERVICE_ACCOUNT,
    host_address,
    lab_spec_with_unencrypted_host,
    running_lab,
)

pytestmark = pytest.mark.integration
STEPS = ["communication", "version", "instance", "discovery"]
BUILDS = {"IIS2016": 14393, "IIS2019": 17763, "IIS2022": 20348}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    yield from running_lab(lab_spec_with_unencrypted_host())


def api_body(lab: Lab, host: str, name: str | None = None, **winrm: Any) -> dict[str, Any]:
    scheme = winrm.pop("scheme", "https")
    credential = winrm.pop("credential", None) or {
        "type": "manual",
        "username": SERVICE_ACCOUNT,
        "password": lab.users[lab.host(host).name][SERVICE_ACCOUNT],
    }
    settings = {
        "scheme": scheme,
        "port": lab.winrm_port(host, scheme),
        "auth": "ntlm",
        "verify_tls": True,
        "ca_bundle": lab.ca_pem.decode() if scheme == "https" else None,
        **winrm,
    }
    return {
        "name": name or host,
        "hostname": winrm.pop("hostname", None) or host_address(lab, host),
        "data_center": "lab",
        "cert_sync": "managed",
        "credential": credential,
        "winrm": settings,
        "gateway": {"mode": "integrated"},
    }


def onboard(client: Any, body: dict[str, Any]) -> int:
    response = client.post("/api/v1/devices/", body, format="json")
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def validated(client: Any, device_id: int, timeout: float = 90) -> dict[str, Any]:
    """Poll the API until the device's latest validation has finished; returns the device."""

    def done() -> dict[str, Any] | None:
        data = client.get(f"/api/v1/devices/{device_id}/").json()
        return data if data["validation"] and data["validation"]["state"] == "finished" else None

    wait_for(done, timeout=timeout, message=f"device {device_id} was not validated within {timeout} s")
    # The response that showed the validation finished may hold the device as read a moment before (its two queries
    # do not share a snapshot); the validation and the device's status commit together, so a new read has both.
    return client.get(f"/api/v1/devices/{device_id}/").json()  # type: ignore[no-any-return]


def test_each_demo_host_is_managed_with_a_complete_status_log(
    lab: Lab, device_worker: Any, admin_user: Any, api: Any
) -> None:
    client = api(admin_user)
    ids = {name: onboard(client, api_body(lab, name)) for name in DEMO_HOSTS}
    for name, device_id in ids.items():
        data = validated(client, device_id)
        assert data["status"] == "managed", (name, data["status_reason"], device_worker.log()[-3000:])
        assert data["status_reason"] == ""
        log = data["status_log"]
        assert [entry["step"] for entry in log] == STEPS
        assert all(entry["ok"] and entry["outcome"] == "ok" and entry["detail"] and entry["at"] for entry in log)
        assert f"build {BUILDS[name]}" in log[1]["detail"]
        assert data["facts"]["os_build"] == BUILDS[name]
        assert data["facts"]["iis_version"] == "10.0"
        assert data["facts"]["powershell_version"].startswith("5.1")
        assert data["sites"] and data["validation"]["worker"].startswith("devices@")
        assert data["validated_at"]


def test_an_address_where_nothing_answers_is_unresolved(
    lab: Lab, device_worker: Any, admin_user: Any, api: Any
) -> None:
    client = api(admin_user)
    silent = host_address(lab, "IIS2016").rsplit(".", 1)[0] + ".250"  # same lab network, no host
    data = validated(client, onboard(client, api_body(lab, "IIS2016", name="silent", hostname=silent)))
    assert data["status"] == "unresolved"
    assert "nothing answers" in data["status_reason"] and "connection refused" in data["status_reason"]
    assert [(e["step"], e["outcome"]) for e in data["status_log"]] == [
        ("communication", "failed"),
        ("version", "not_run"),
        ("instance", "not_run"),
        ("discovery", "not_run"),
    ]


def test_a_name_that_does_not_resolve_is_unresolved(lab: Lab, device_worker: Any, admin_user: Any, api: Any) -> None:
    client = api(admin_user)
    body = api_body(lab, "IIS2019", name="ghost", hostname="iis-ghost.invalid")
    data = validated(client, onboard(client, body))
    assert data["status"] == "unresolved"
    assert "does not resolve from gateway 'integrated-gateway'" in data["status_reason"]


def test_a_wrong_password_fails_with_authentication_failed(
    lab: Lab, device_worker: Any, admin_user: Any, api: Any
) -> None:
    client = api(admin_user)
    body = api_body(
        lab,
        "IIS2022",
        name="wrong-password",
        credential={"type": "manual", "username": SERVICE_ACCOUNT, "password": "not-the-password"},
    )
    data = validated(client, onboard(client, body))
    assert data["status"] == "failed"
    assert data["status_reason"] == "Device communication: authentication failed"


def test_an_untrusted_https_certificate_fails_with_the_tls_reason(
    lab: Lab, device_worker: Any, admin_user: Any, api: Any
) -> None:
    client = api(admin_user)
    data = validated(client, onboard(client, api_body(lab, "IIS2019", name="untrusted", ca_bundle=None)))
    assert data["status"] == "failed"
    assert "HTTPS certificate is not trusted" in data["status_reason"]
    assert "unable to get local issuer certificate" in data["status_reason"]


def test_basic_over_plain_http_is_refused_unless_opted_in(
    lab: Lab, device_worker: Any, admin_user: Any, api: Any
) -> None:
    """IIS2016 answers Basic, but (as stock Windows) only over HTTPS; IISPLAIN also allows it over plain HTTP."""
    client = api(admin_user)
    refused = client.post("/api/v1/devices/", api_body(lab, "IIS2016", scheme="http", auth="basic"), format="json")
    assert refused.status_code == 400
    assert "sends the password unprotected" in refused.json()["errors"]["winrm.allow_basic_over_http"][0]

    # A row without the opt-in (say, written before the rule) is refused by the session before any request is sent.
    listener = lab.winrm_listeners[lab.host("IIS2016").name]
    requests_before = listener.stats["http"]
    device_id = onboard(client, api_body(lab, "IIS2016", name="no-opt-in", scheme="http", auth="ntlm"))
    validated(client, device_id)
    Device.objects.filter(pk=device_id).update(winrm_auth="basic", allow_basic_over_http=False)
    requests_before = listener.stats["http"]
    client.post(f"/api/v1/devices/{device_id}/validate/")
    data = validated(client, device_id)
    assert data["status"] == "failed"
    assert "Basic authentication over plain HTTP is refused" in data["status_reason"]
    assert listener.stats["http"] == requests_before

    opted_in = api_body(lab, "IIS2016", name="opted-in", scheme="http", auth="basic", allow_basic_over_http=True)
    data = validated(client, onboard(client, opted_in))
    assert data["status"] == "failed"  # the host itself refuses unencrypted Basic
    assert "authentication failed" in data["status_reason"] and "use HTTPS" in data["status_reason"]

    plain = api_body(lab, "IISPLAIN", scheme="http", auth="basic", allow_basic_over_http=True)
    data = validated(client, onboard(client, plain))
    assert data["status"] == "managed", data["status_reason"]


def test_ignored_gets_the_configuration_fetch_only_and_monitored_is_monitored(
    lab: Lab, device_worker: Any, admin_user: Any, api: Any
) -> None:
    client = api(admin_user)
    journal = lab.host("IIS2019").journal
    seen = journal.last_seq
    data = validated(client, onboard(client, {**api_body(lab, "IIS2019", name="ignored"), "cert_sync": "ignored"}))
    assert data["status"] == "ignored" and data["sites"]
    assert [(e["step"], e["outcome"]) for e in data["status_log"]][-1] == ("discovery", "skipped")
    assert [entry["op"] for entry in journal.since(seen)] == ["host_facts", "list_sites"]
    monitored = onboard(client, {**api_body(lab, "IIS2022", name="monitored"), "cert_sync": CertSync.MONITORED})
    assert validated(client, monitored)["status"] == "monitored"


def test_an_operation_failing_on_the_host_fails_the_device_at_that_section(
    lab: Lab, device_worker: Any, admin_user: Any, api: Any
) -> None:
    client = api(admin_user)
    host = lab.host("IIS2022")
    with host.op_faults.lock:
        host.op_faults.failures.append(StepFailure(op="list_sites", step="read_sites", code="injected", times=1))
    try:
        data = validated(client, onboard(client, api_body(lab, "IIS2022", name="broken-config")))
    finally:
        host.op_faults.clear()
    assert data["status"] == "failed"
    assert data["status_reason"].startswith("Instance information:")
    assert [e["outcome"] for e in data["status_log"]] == ["ok", "ok", "failed", "not_run"]


def test_a_share_is_probed_with_the_folder_credential(lab: Lab, device_worker: Any, admin_user: Any, api: Any) -> None:
    client = api(admin_user)
    share = next(iter(lab.shares.shares.values()))
    good = {
        **api_body(lab, "IIS2022", name="share-ok"),
        "locations": {"certificate_store": True, "file_system": {"path": share.unc}},
        "folder_credential": {"mode": "new", "type": "manual", "username": share.username, "password": share.password},
    }
    bad = {
        **good,
        "name": "share-denied",
        "folder_credential": {"mode": "new", "type": "manual", "username": share.username, "password": "nope"},
    }
    data = validated(client, onboard(client, good))
    assert data["status"] == "managed", data["status_reason"]
    assert f"in the share {share.unc}" in data["status_log"][3]["detail"]
    data = validated(client, onboard(client, bad))
    assert data["status"] == "failed"
    assert data["status_reason"].startswith("Certificate discovery from device:")
