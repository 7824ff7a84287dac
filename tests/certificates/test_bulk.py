"""Bulk writes of discovery findings: a fixed number of queries, idempotent reruns, deduplication across devices,
counters that stay equal to the rows, and concurrent devices that share certificates."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from certificates.bulk import (
    DeviceFindings,
    FoundBinding,
    FoundLocation,
    IngestOptions,
    certificate_counters_recompute,
    device_findings_apply,
)
from certificates.choices import CertificateStatus, LocationState
from certificates.models import Certificate, CertificateBinding, CertificateLocation, PrivateKey
from certificates.x509 import parse_der_for_inventory
from devices.models import Device
from tests.certificates.factories import devices, findings, make_certs, options


def queries_for(count: int, device: Device) -> int:
    certs = make_certs(count, prefix=f"q{count}-")
    with CaptureQueriesContext(connection) as captured:
        device_findings_apply(device_id=device.pk, findings=findings(certs, bound=count // 2), options=options())
    return len(captured.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_number_of_certificates(db: Any) -> None:
    small, large = devices(2)
    assert queries_for(5, small) == queries_for(120, large)


def test_a_big_host_goes_through_the_staging_path_with_the_same_result(db: Any) -> None:
    """More rows than COPY_THRESHOLD take the COPY path on PostgreSQL (multi-row VALUES on SQLite)."""
    from certificates.bulk import COPY_THRESHOLD

    (device,) = devices(1)
    certs = make_certs(COPY_THRESHOLD + 20)
    result = device_findings_apply(device_id=device.pk, findings=findings(certs, bound=5), options=options())
    assert result.certificates_new == len(certs) == Certificate.objects.count()
    assert CertificateLocation.objects.filter(device=device).count() == len(certs)
    assert certificate_counters_recompute() == 0
    stored = Certificate.objects.get(sha256=certs[7].sha256)
    assert (bytes(stored.der), stored.sans, stored.common_name) == (certs[7].der, certs[7].sans, certs[7].common_name)
    again = device_findings_apply(device_id=device.pk, findings=findings(certs, bound=5), options=options())
    assert (again.certificates_new, again.locations_added) == (0, 0)


def test_applying_the_same_findings_again_writes_nothing_new(db: Any) -> None:
    (device,) = devices(1)
    certs = make_certs(8)
    first = device_findings_apply(device_id=device.pk, findings=findings(certs, bound=3), options=options())
    assert (first.certificates_new, first.locations_added, first.bindings_added) == (8, 8, 3)
    before = sorted(CertificateLocation.objects.values_list("id", "key", "first_seen"))
    again = device_findings_apply(device_id=device.pk, findings=findings(certs, bound=3), options=options())
    assert (again.certificates_new, again.locations_added, again.locations_removed) == (0, 0, 0)
    assert (again.bindings_added, again.bindings_removed, again.locations_updated) == (0, 0, 0)
    assert sorted(CertificateLocation.objects.values_list("id", "key", "first_seen")) == before
    assert certificate_counters_recompute() == 0


def test_a_certificate_on_two_devices_is_one_row_with_two_locations(db: Any) -> None:
    one, two = devices(2)
    certs = make_certs(3)
    device_findings_apply(device_id=one.pk, findings=findings(certs, bound=1), options=options())
    device_findings_apply(device_id=two.pk, findings=findings(certs[:1], bound=1), options=options())
    assert Certificate.objects.count() == 3
    shared = Certificate.objects.get(sha256=certs[0].sha256)
    assert (shared.location_count, shared.binding_count) == (2, 2)
    assert certificate_counters_recompute() == 0


def test_what_vanished_from_a_host_loses_its_location_and_bindings(db: Any) -> None:
    one, two = devices(2)
    certs = make_certs(4)
    device_findings_apply(device_id=one.pk, findings=findings(certs, bound=4), options=options())
    device_findings_apply(device_id=two.pk, findings=findings(certs[:1], bound=1), options=options())
    result = device_findings_apply(device_id=one.pk, findings=findings(certs[2:], bound=2), options=options())
    assert (result.locations_removed, result.bindings_removed) == (2, 2)
    assert set(CertificateLocation.objects.filter(device=one).values_list("certificate__sha256", flat=True)) == {
        certs[2].sha256,
        certs[3].sha256,
    }
    assert Certificate.objects.count() == 4  # the inventory keeps certificates; only their locations go
    assert Certificate.objects.get(sha256=certs[0].sha256).location_count == 1  # still on device two
    assert Certificate.objects.get(sha256=certs[1].sha256).location_count == 0
    assert certificate_counters_recompute() == 0


def test_a_location_present_but_filtered_out_is_kept(db: Any) -> None:
    (device,) = devices(1)
    certs = make_certs(3)
    device_findings_apply(device_id=device.pk, findings=findings(certs), options=options())
    narrowed = findings(certs[:1])
    narrowed.present_location_keys |= {f"store:My:{c.thumbprint}" for c in certs}
    result = device_findings_apply(device_id=device.pk, findings=narrowed, options=options())
    assert result.locations_removed == 0
    assert CertificateLocation.objects.filter(device=device).count() == 3


def test_a_rebinding_moves_the_binding_counter_between_certificates(db: Any) -> None:
    (device,) = devices(1)
    old, new = make_certs(2)
    first = findings([old, new])
    first.bindings.append(
        FoundBinding(key="site:Shop:https:*:443:", location_key=f"store:My:{old.thumbprint}", kind="site", port=443)
    )
    device_findings_apply(device_id=device.pk, findings=first, options=options())
    second = findings([old, new])
    second.bindings.append(
        FoundBinding(key="site:Shop:https:*:443:", location_key=f"store:My:{new.thumbprint}", kind="site", port=443)
    )
    device_findings_apply(device_id=device.pk, findings=second, options=options())
    assert Certificate.objects.get(sha256=old.sha256).binding_count == 0
    assert Certificate.objects.get(sha256=new.sha256).binding_count == 1
    assert CertificateBinding.objects.count() == 1
    assert certificate_counters_recompute() == 0


def test_status_only_moves_up_and_discovered_certificates_join_the_group_when_moved(db: Any) -> None:
    from certificates.models import CertificateGroup

    (device,) = devices(1)
    certs = make_certs(2)
    team = CertificateGroup.objects.create(name="Team")
    device_findings_apply(device_id=device.pk, findings=findings(certs), options=options(CertificateStatus.DISCOVERED))
    assert set(Certificate.objects.values_list("status", flat=True)) == {"discovered"}
    device_findings_apply(
        device_id=device.pk,
        findings=findings(certs),
        options=IngestOptions(status=CertificateStatus.MONITORED, default_group_id=team.pk),
    )
    assert set(Certificate.objects.values_list("status", "group_id")) == {("monitored", team.pk)}
    device_findings_apply(device_id=device.pk, findings=findings(certs), options=options(CertificateStatus.MANAGED))
    device_findings_apply(device_id=device.pk, findings=findings(certs), options=options(CertificateStatus.MONITORED))
    assert set(Certificate.objects.values_list("status", "group_id")) == {("managed", team.pk)}


def test_a_locked_file_is_a_location_without_a_certificate(db: Any) -> None:
    (device,) = devices(1)
    locked = DeviceFindings(scanned_kinds={"file"})
    key = "file:c:\\certs\\secret.pfx"
    locked.locations.append(
        FoundLocation(kind="file", key=key, sha256=None, path="C:\\certs\\secret.pfx", state=LocationState.LOCKED)
    )
    locked.present_location_keys.add(key)
    result = device_findings_apply(device_id=device.pk, findings=locked, options=options())
    assert result.locked_files == 1
    location = CertificateLocation.objects.get(device=device)
    assert (location.state, location.certificate_id) == ("locked", None)


def test_keys_from_pfx_files_are_kept_for_managed_certificates_only(db: Any) -> None:
    one, two = devices(2)
    managed, monitored = make_certs(2)
    for device, parsed, status in ((one, managed, "managed"), (two, monitored, "monitored")):
        found = DeviceFindings(scanned_kinds={"file"})
        key = f"file:c:\\certs\\{parsed.common_name}.pfx"
        found.certificates[parsed.sha256] = parsed
        found.locations.append(FoundLocation(kind="file", key=key, sha256=parsed.sha256, has_private_key=True))
        found.present_location_keys.add(key)
        found.portal_keys[parsed.sha256] = b"0\x82pkcs8-der"
        device_findings_apply(device_id=device.pk, findings=found, options=options(status))
    assert PrivateKey.objects.get(certificate__sha256=managed.sha256).location == "portal"
    assert bytes(PrivateKey.objects.get(certificate__sha256=managed.sha256).pkcs8) == b"0\x82pkcs8-der"
    endpoint = PrivateKey.objects.get(certificate__sha256=monitored.sha256)
    assert (endpoint.location, endpoint.pkcs8) == ("endpoint", None)


def test_a_key_recorded_for_a_certificate_parsed_without_its_key_fingerprint_gets_it(db: Any) -> None:
    """Discovery's parser leaves `public_key_sha256` empty: the private key row still carries the real one."""
    (device,) = devices(1)
    full = make_certs(1)[0]
    parsed = parse_der_for_inventory(full.der)
    found = DeviceFindings(scanned_kinds={"store"})
    key = f"store:My:{parsed.thumbprint}"
    found.certificates[parsed.sha256] = parsed
    found.locations.append(FoundLocation(kind="store", key=key, sha256=parsed.sha256, store="My", has_private_key=True))
    found.present_location_keys.add(key)
    device_findings_apply(device_id=device.pk, findings=found, options=options())
    stored = PrivateKey.objects.get(certificate__sha256=parsed.sha256)
    assert (stored.location, stored.public_key_sha256) == ("endpoint", full.public_key_sha256)
    assert len(full.public_key_sha256) == 64


def test_a_failed_write_leaves_nothing_behind_and_the_connection_usable(db: Any, monkeypatch: Any) -> None:
    """The statements go out in pipelines on PostgreSQL: an error in one (here a duplicate location key) still
    surfaces as Django's IntegrityError and rolls the whole device back."""
    import certificates.bulk as bulk

    (device,) = devices(1)
    certs = make_certs(3)
    real = bulk._plan_locations

    def duplicated(*args: Any, **kwargs: Any) -> Any:
        plan = real(*args, **kwargs)
        plan.create.append(plan.create[0])
        return plan

    monkeypatch.setattr(bulk, "_plan_locations", duplicated)
    with pytest.raises(IntegrityError):
        device_findings_apply(device_id=device.pk, findings=findings(certs), options=options())
    assert Certificate.objects.count() == CertificateLocation.objects.count() == 0
    monkeypatch.setattr(bulk, "_plan_locations", real)
    result = device_findings_apply(device_id=device.pk, findings=findings(certs), options=options())
    assert (result.certificates_new, result.locations_added) == (3, 3)


@pytest.mark.integration
def test_devices_sharing_certificates_apply_concurrently_with_right_counters(transactional_db: Any) -> None:
    """Eight threads, eight devices, every device holding the same 30 shared certificates plus its own: no
    deadlock, one row per certificate, counters equal to the rows (PostgreSQL, real concurrent transactions)."""
    hosts = devices(8)
    shared = make_certs(30, prefix="shared")
    own = {d.pk: make_certs(5, prefix=f"own{d.pk}-") for d in hosts}
    errors: list[BaseException] = []

    def work(device: Device) -> None:
        try:
            for _ in range(2):
                device_findings_apply(
                    device_id=device.pk, findings=findings(shared + own[device.pk], bound=10), options=options()
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(d,)) for d in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert Certificate.objects.count() == 30 + 8 * 5
    assert certificate_counters_recompute() == 0
    assert set(
        Certificate.objects.filter(sha256__in=[c.sha256 for c in shared]).values_list("location_count", flat=True)
    ) == {8}
