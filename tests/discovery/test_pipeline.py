"""One device at a time through the real pipeline without Celery: WinRM to the demo lab, parsing, bulk writes.

The Celery path (workers, Redis, PostgreSQL) is covered by test_acceptance.py; these tests call the run services
that the device task calls, in this process, so that each assertion points at one stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from certificates.choices import CertificateStatus, LocationState
from certificates.models import Certificate, CertificateBinding, CertificateLocation
from discovery import runs
from discovery.choices import DiscoveryType, MoveToInventory
from discovery.models import DiscoveryRunDevice
from discovery.services import DiscoveryInput, discovery_save
from iissim.lab import Lab
from tests.devices.labs import running_lab
from tests.discovery.labhelpers import expected_for, onboard_demo


@pytest.fixture
def lab() -> Iterator[Lab]:
    yield from running_lab()


def _discover(devices: dict[str, Any], **options: Any) -> dict[str, DiscoveryRunDevice]:
    data = DiscoveryInput(name=options.pop("name", "pipeline"), devices=[d.pk for d in devices.values()], **options)
    discovery = discovery_save(data=data, user=None)
    run = runs.run_options(discovery)
    from discovery.models import DiscoveryRun

    run_row = DiscoveryRun.objects.create(discovery=discovery, discovery_name=discovery.name, options=run)
    out = {}
    for name, device in devices.items():
        row = DiscoveryRunDevice.objects.create(run=run_row, device=device, device_name=name)
        started = runs.run_device_begin(row_id=row.pk)
        assert started is not None
        outcome = runs.discovery_device_run(row=started)
        runs.run_device_complete(row_id=row.pk, outcome=outcome)
        out[name] = DiscoveryRunDevice.objects.get(pk=row.pk)
    return out


def test_it_records_every_store_certificate_and_readable_pfx_of_each_host(db: Any, lab: Lab) -> None:
    devices = onboard_demo(lab)
    rows = _discover(devices)
    for name, device in devices.items():
        expected = expected_for(lab, name)
        locations = CertificateLocation.objects.filter(device=device).select_related("certificate")
        store = {(loc.store, loc.certificate.thumbprint) for loc in locations if loc.kind == "store"}
        files = {
            loc.path: loc.certificate.thumbprint
            for loc in locations
            if loc.state == LocationState.OK and loc.kind == "file"
        }
        locked = {loc.path for loc in locations if loc.state == LocationState.LOCKED}
        assert store == expected.store, name
        assert files == expected.files, name
        assert locked == expected.locked, name
        assert rows[name].state == "completed", rows[name].error
    assert Certificate.objects.count() == len(set().union(*(expected_for(lab, n).thumbprints for n in devices)))
    assert Certificate.objects.filter(status=CertificateStatus.MANAGED).count() == Certificate.objects.count()


def test_it_records_bindings_with_ipv6_ftp_and_webhosting_store(db: Any, lab: Lab) -> None:
    devices = onboard_demo(lab, hosts=("IIS2019",))
    _discover(devices)
    bindings = {
        b.key: b
        for b in CertificateBinding.objects.filter(device=devices["IIS2019"]).select_related("location__certificate")
    }
    v6 = bindings["site:Intranet:https:[2001:db8:10::19]:443:"]
    assert (v6.ip, v6.port, v6.host, v6.kind) == ("2001:db8:10::19", 443, "", "site")
    assert v6.location.certificate.common_name == "v6.lab.test"
    ftp = bindings["ftp:Files FTP"]
    assert (ftp.kind, ftp.protocol, ftp.port) == ("ftp", "ftp", 21)
    assert ftp.location.certificate.common_name == "ftp.lab.test"
    intranet = next(b for b in bindings.values() if b.site_name == "Intranet" and b.ip.startswith("127."))
    assert intranet.location.store == "WebHosting" and intranet.location.certificate.common_name == "intranet.lab.test"
    shop = bindings["site:Shop:https:*:443:shop.lab.test"]
    assert shop.sni and shop.host == "shop.lab.test"
    cert = shop.location.certificate
    assert cert.binding_count == CertificateBinding.objects.filter(location__certificate=cert).count() >= 1
    assert cert.location_count == CertificateLocation.objects.filter(certificate=cert, state="ok").count()


def test_in_use_keeps_only_bound_certificates(db: Any, lab: Lab) -> None:
    devices = onboard_demo(lab)
    _discover(devices, discovery_type=DiscoveryType.IN_USE)
    found = set(Certificate.objects.values_list("thumbprint", flat=True))
    bound = set().union(*(expected_for(lab, n).bound & {t for _, t in expected_for(lab, n).store} for n in devices))
    assert found == bound
    assert not CertificateLocation.objects.filter(kind="file").exists()
    assert all(c.binding_count > 0 for c in Certificate.objects.all())


def test_a_second_run_changes_nothing(db: Any, lab: Lab) -> None:
    devices = onboard_demo(lab)
    _discover(devices)

    def snapshot() -> tuple[Any, ...]:
        return (
            sorted(
                Certificate.objects.values_list("id", "sha256", "status", "group_id", "location_count", "binding_count")
            ),
            sorted(
                CertificateLocation.objects.values_list(
                    "id", "device_id", "key", "certificate_id", "state", "first_seen"
                )
            ),
            sorted(CertificateBinding.objects.values_list("id", "device_id", "key", "location_id", "first_seen")),
        )

    before = snapshot()
    rows = _discover(devices, name="again")
    assert snapshot() == before
    assert all(r.certificates_new == 0 and r.locations_added == 0 and r.locations_removed == 0 for r in rows.values())


def test_a_certificate_removed_on_the_host_loses_its_location(db: Any, lab: Lab) -> None:
    devices = onboard_demo(lab, hosts=("IIS2022",))
    _discover(devices)
    host = lab.host("IIS2022")
    with host.lock:
        thumbprint = next(
            t for t, c in host.state.stores["My"].items() if "api" in c.certificate.subject.rfc4514_string()
        )
        del host.state.stores["My"][thumbprint]
    assert CertificateLocation.objects.filter(store="My", certificate__thumbprint=thumbprint).exists()
    rows = _discover(devices, name="after removal")
    assert not CertificateLocation.objects.filter(store="My", certificate__thumbprint=thumbprint).exists()
    assert rows["IIS2022"].locations_removed == 1
    cert = Certificate.objects.get(thumbprint=thumbprint)
    # Still in the inventory (a file location may remain); its counters follow the rows.
    assert cert.location_count == CertificateLocation.objects.filter(certificate=cert, state="ok").count()
    assert cert.binding_count == CertificateBinding.objects.filter(location__certificate=cert).count()


def test_do_not_move_keeps_new_certificates_out_of_the_inventory_until_moved(db: Any, lab: Lab) -> None:
    devices = onboard_demo(lab, hosts=("IIS2016",))
    _discover(devices, move_to_inventory=MoveToInventory.DO_NOT_MOVE)
    assert set(Certificate.objects.values_list("status", flat=True)) == {CertificateStatus.DISCOVERED}
    assert CertificateLocation.objects.filter(device=devices["IIS2016"]).exists()
    _discover(devices, name="monitored", move_to_inventory=MoveToInventory.MONITORED)
    assert set(Certificate.objects.values_list("status", flat=True)) == {CertificateStatus.MONITORED}
    _discover(devices, name="dont-move-again", move_to_inventory=MoveToInventory.DO_NOT_MOVE)
    assert set(Certificate.objects.values_list("status", flat=True)) == {CertificateStatus.MONITORED}


def test_managed_pfx_keys_are_kept_encrypted_and_store_keys_stay_on_the_endpoint(db: Any, lab: Lab) -> None:
    from django.db import connection

    from certificates.models import PrivateKey

    devices = onboard_demo(lab, hosts=("IIS2016",))
    _discover(devices)
    payroll = Certificate.objects.get(common_name="payroll.lab.test")
    key = PrivateKey.objects.get(certificate=payroll)
    assert key.location == "portal" and key.pkcs8
    with connection.cursor() as cursor:
        cursor.execute("SELECT pkcs8 FROM certificates_privatekey WHERE id = %s", [key.pk])
        stored = cursor.fetchone()[0]
    assert bytes(key.pkcs8) not in str(stored).encode()  # encrypted at rest
    legacy = Certificate.objects.get(common_name="www.legacy.lab.test")
    assert PrivateKey.objects.get(certificate=legacy).location == "endpoint"


def test_a_monitored_device_never_yields_managed_certificates(db: Any, lab: Lab) -> None:
    devices = onboard_demo(lab, hosts=("IIS2016",))
    devices["IIS2016"].cert_sync = "monitored"
    devices["IIS2016"].save(update_fields=["cert_sync"])
    _discover(devices)
    assert set(Certificate.objects.values_list("status", flat=True)) == {CertificateStatus.MONITORED}
    from certificates.models import PrivateKey

    assert not PrivateKey.objects.filter(location="portal").exists()


def test_a_rule_and_access_control_rules_decide_what_is_kept_and_its_group(db: Any, lab: Lab) -> None:
    from certificates.models import CertificateGroup
    from discovery.services import access_rule_save, discovery_rule_save

    shop_group = CertificateGroup.objects.create(name="Shop")
    rule = discovery_rule_save(data={"name": "shop only", "subject_pattern": "*shop*"}, user=None)
    access_rule_save(
        data={"name": "shop", "subject_pattern": "www.shop.*", "group": shop_group, "priority": 1}, user=None
    )
    devices = onboard_demo(lab, hosts=("IIS2019",))
    rows = _discover(devices, rule=rule.pk, use_access_control_rule=True)
    names = set(Certificate.objects.values_list("common_name", flat=True))
    assert names == {"shop.lab.test"}
    assert rows["IIS2019"].filtered_out > 0
    assert set(Certificate.objects.values_list("group_id", flat=True)) == {shop_group.pk}
    # Filtered-out certificates are still on the host: a later full discovery adds them, nothing was swept.
    _discover(devices, name="all")
    assert Certificate.objects.count() > 1


def test_handlers_hear_about_each_discovered_device_and_a_failing_one_is_only_a_note(db: Any, lab: Lab) -> None:
    from discovery import hooks

    heard: list[hooks.DeviceDiscovered] = []

    def record(event: hooks.DeviceDiscovered) -> None:
        heard.append(event)

    def broken(event: hooks.DeviceDiscovered) -> None:
        raise RuntimeError("connector store unavailable")

    saved = list(hooks._handlers)
    hooks._handlers[:] = [record, broken]
    try:
        devices = onboard_demo(lab, hosts=("IIS2019",))
        rows = _discover(devices)
    finally:
        hooks._handlers[:] = saved  # other apps' handlers (connectors) stay registered for later tests
    (event,) = heard
    device = devices["IIS2019"]
    assert event.device_id == device.pk and event.status == CertificateStatus.MANAGED
    recorded = set(CertificateLocation.objects.filter(device=device).values_list("certificate_id", flat=True))
    assert set(event.certificate_ids) == recorded - {None}
    bound = set(CertificateBinding.objects.filter(device=device).values_list("location__certificate_id", flat=True))
    assert set(event.bound_certificate_ids) == bound and bound < set(event.certificate_ids)
    assert rows["IIS2019"].state == "completed" and "connector store unavailable" in rows["IIS2019"].error
