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
from discovery.choices import DiscoveryType, MoveToInventory, RunType
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
        files = {loc.path: loc.certificate.thumbprint for loc in locations if loc.state == LocationState.OK and loc.kind == "file"}
        locked = {loc.path for loc in locations if loc.state == LocationState.LOCKED}
        assert store == expected.store, name
        assert files == expected.files, name
        assert locked == expected.locked, name
        assert rows[name].state == "completed", rows[name].error
    assert Certificate.objects.count() == len(set().union(*(expected_for(lab, n).thumbprints for n in devices)))
    assert Certificate.objects.filter(status=CertificateStatus.MANAGED).count() == Certificate.objects.count()
