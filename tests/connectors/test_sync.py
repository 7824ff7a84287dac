"""Sync status and the connectors discovery creates, against the demo lab (WinRM, ingestion, the connectors hook
in this process), and the push-validation sweep over real TLS."""

from __future__ import annotations

from typing import Any

from certificates.models import Certificate
from connectors.choices import ConnectorSource, SyncStatus
from connectors.models import AppConnector, EndpointCheck
from connectors.sync import connectors_after_discovery
from connectors.validation import push_validation_sweep, report_data
from iissim.lab import Lab
from tests.connectors.helpers import (
    connector_for,
    control,
    discover,
    make_certificate,
    onboard,
    push_through,
)

SHOP = "MS IIS::Shop::*:443:shop.lab.test:CS:(SNI)"


def test_discovery_creates_a_profile_connector_per_binding_and_rediscovery_does_not_duplicate(
    db: Any, lab: Lab
) -> None:
    devices = onboard(lab, "IIS2019")
    discover([devices["IIS2019"]])

    found = AppConnector.objects.filter(source=ConnectorSource.DISCOVERY)
    profiles = {c.targets.get().profile: c for c in found}
    assert SHOP in profiles and "MS IIS::Blog::*:443:blog.lab.test:CS:(SNI)" in profiles
    assert any(p.startswith("MS IIS::Intranet::[2001:db8:10::19]:443") for p in profiles)
    assert all(c.sync_status == SyncStatus.IN_SYNC for c in found)
    shop = profiles[SHOP]
    assert shop.certificate.common_name == "shop.lab.test" and shop.bind_type == "update_certificate"
    assert not any("ftp" in p.lower() for p in profiles)  # the FTP site's certificate is not a site binding

    count = found.count()
    discover([devices["IIS2019"]])
    assert AppConnector.objects.filter(source=ConnectorSource.DISCOVERY).count() == count


def test_the_hook_after_a_discovery_that_changed_nothing_is_five_queries(
    db: Any, lab: Lab, django_assert_num_queries: Any
) -> None:
    devices = onboard(lab, "IIS2019")
    discover([devices["IIS2019"]])
    before = dict(AppConnector.objects.values_list("pk", "sync_status"))
    assert before and set(before.values()) == {SyncStatus.IN_SYNC}
    # The device, its bindings, its locations, its connectors with their targets, then stamping the check time: no
    # query per connector (a field left out of the hook's column lists would add one per row).
    with django_assert_num_queries(5):
        result = connectors_after_discovery(device_id=devices["IIS2019"].pk)
    assert result == {"created": 0, "updated": 0}
    assert dict(AppConnector.objects.values_list("pk", "sync_status")) == before
    assert not AppConnector.objects.filter(sync_checked_at__isnull=True).exists()


def test_a_newer_certificate_pushed_puts_the_old_connector_out_of_sync_after_rediscovery(
    db: Any, lab: Lab, requester: Any, approver: Any, approver_b: Any, implementer: Any
) -> None:
    devices = onboard(lab, "IIS2019")
    discover([devices["IIS2019"]])
    old = AppConnector.objects.get(source=ConnectorSource.DISCOVERY, targets__profile=SHOP)
    certificate = make_certificate("shop.lab.test")
    new = connector_for(certificate, requester, [devices["IIS2019"]], bind_type="update_certificate", profiles=[SHOP])
    never = connector_for(
        make_certificate("never.lab.test"),
        requester,
        [devices["IIS2019"]],
        bind_type="update_certificate",
        profiles=["MS IIS::Blog::*:443:blog.lab.test:CS:(SNI)"],
    )
    order, _ = push_through(new, requester, [approver, approver_b], implementer)
    assert order.state == "completed", order.error

    discover([devices["IIS2019"]])
    old.refresh_from_db()
    new.refresh_from_db()
    never.refresh_from_db()
    assert new.sync_status == SyncStatus.IN_SYNC
    assert old.sync_status == SyncStatus.OUT_OF_SYNC and "not on" in old.sync_reason
    assert old.certificate_id != certificate.pk and Certificate.objects.filter(pk=old.certificate_id).exists()
    assert never.sync_status == SyncStatus.UNKNOWN  # not pushed, not there: nothing to be out of sync with


def test_the_validation_sweep_checks_pushed_endpoints_and_catches_drift(
    db: Any, lab: Lab, requester: Any, approver: Any, approver_b: Any, implementer: Any
) -> None:
    devices = onboard(lab, "IIS2019")
    certificate = make_certificate("shop.lab.test")
    connector = connector_for(
        certificate, requester, [devices["IIS2019"]], bind_type="update_certificate", profiles=[SHOP]
    )
    push_through(connector, requester, [approver, approver_b], implementer)

    sweep = push_validation_sweep(trigger="test")
    assert (sweep.state, sweep.total, sweep.succeeded) == ("completed", 1, 1)
    connector.refresh_from_db()
    assert connector.sync_status == SyncStatus.IN_SYNC and connector.last_validation["ok"] is True
    assert connector.last_validation["endpoints"][0]["served_thumbprint"] == certificate.thumbprint

    blog = control(lab).state("IIS2019")["http_sys"][0]["certificate_hash"]
    control(lab).set_http_sys(
        "IIS2019", kind="hostnameport", endpoint="shop.lab.test:443", certificate_hash=blog, certificate_store="My"
    )
    sweep = push_validation_sweep(trigger="test")
    assert (sweep.total, sweep.failed) == (1, 1)
    connector.refresh_from_db()
    assert connector.sync_status == SyncStatus.OUT_OF_SYNC and connector.last_validation["ok"] is False
    report = report_data(days=1)
    assert [e.host for e in report["failing"]] == ["shop.lab.test"]
    assert report["failing"][0].last_served_thumbprint == blog
    assert EndpointCheck.objects.filter(sweep=sweep, ok=False).count() == 1
