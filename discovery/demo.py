"""`make run`'s demo, continued: once the demo lab's hosts are onboarded (devices.demo, step 100), a "Demo lab scan"
discovery over them is created (on demand) and run, so the inventory is filled within a minute of start-up, and a
scheduled "Nightly demo scan" shows a schedule. `CLM_DEMO=0` turns it off with the rest of the demo."""

from __future__ import annotations

import logging
from datetime import time

from django.utils import timezone

from clm.bootstrap import Say, after_start_step
from discovery.choices import Ends, MoveToInventory, Occurrence, RunType
from discovery.models import Discovery
from discovery.schedule import ScheduleSpec
from discovery.services import DiscoveryInput, discovery_run_now, discovery_save

logger = logging.getLogger(__name__)

DEMO_SCAN = "Demo lab scan"
NIGHTLY_SCAN = "Nightly demo scan"


def demo_discoveries() -> tuple[Discovery, Discovery] | None:
    """Create (or refresh the device list of) the two demo discoveries; None when no demo device exists."""
    from devices.demo import DEMO_DATA_CENTER
    from devices.models import Device

    device_ids = list(Device.objects.filter(data_center=DEMO_DATA_CENTER).values_list("id", flat=True))
    if not device_ids:
        return None
    on_demand = DiscoveryInput(
        name=DEMO_SCAN,
        description="Certificate stores, folders and shares of the simulated demo lab.",
        devices=device_ids,
        move_to_inventory=MoveToInventory.MANAGED,
    )
    nightly = DiscoveryInput(
        name=NIGHTLY_SCAN,
        description="The same every night: certificates in use only, into the inventory as Monitored.",
        run_type=RunType.SCHEDULED,
        devices=device_ids,
        discovery_type="in_use",
        move_to_inventory=MoveToInventory.MONITORED,
        schedule=ScheduleSpec(
            time_zone="UTC",
            occurrence=Occurrence.DAILY,
            time=time(2, 0),
            starts_on=timezone.now().date(),
            ends=Ends.NEVER,
        ),
    )
    saved = []
    for data in (on_demand, nightly):
        existing = Discovery.objects.filter(name=data.name).first()
        if existing is not None and existing.run_type == RunType.SCHEDULED and existing.starts_on:
            # Keep the schedule the user may have changed; refresh only the devices.
            existing.devices.set(device_ids)
            saved.append(existing)
            continue
        saved.append(discovery_save(data=data, user=None, discovery=existing))
    return saved[0], saved[1]


@after_start_step(110)
def run_demo_discovery(say: Say) -> None:
    from devices.demo import demo_enabled

    if not demo_enabled():
        return
    try:
        created = demo_discoveries()
        if created is None:
            say("Demo: no demo servers to discover.")
            return
        scan, _ = created
        run = discovery_run_now(discovery=scan, user=None)
    except Exception as exc:  # the portal keeps running without its demo data
        logger.exception("demo discovery failed")
        say(f"Demo: the demo discovery could not start: {exc}")
        return
    say(f"Demo: discovery run #{run.pk} ({DEMO_SCAN}) reads the lab now (Discovery > Runs); the inventory follows.")
