"""Discovery runs: start, dispatch batches, run one device, finish, and the reaper for rows whose worker vanished.

Every state change is a conditional UPDATE on the row's current state (two deliveries of one task cannot both run a
device, and a device row finishes once), and run totals move with F() increments in the same statement family.
Tasks are queued only after the transaction that created their rows commits.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from certificates.bulk import IngestOptions, device_findings_apply
from certificates.choices import STATUS_RANK, CertificateStatus
from certificates.models import CertificateLocation
from certificates.selectors import group_default_id
from clm.audit import audit_record
from devices.choices import CertSync
from discovery.choices import (
    FINISHED_DEVICE_STATES,
    DeviceRunState,
    DiscoveryType,
    MoveToInventory,
    RunState,
    RunTrigger,
    Source,
)
from discovery.collect import collect_host
from discovery.hooks import DeviceDiscovered, device_discovered
from discovery.ingest import ReadPolicy, findings_from_snapshot
from discovery.models import Discovery, DiscoveryRun, DiscoveryRunDevice
from discovery.rules import RuleFilter, access_rules_load, rule_snapshot

logger = logging.getLogger(__name__)

# After this long in "running" past its time limit, a row whose worker died is failed by the reaper.
REAP_GRACE_SECONDS = 120


def _queue_timeout() -> int:
    return int(getattr(settings, "CLM_DISCOVERY_QUEUE_TIMEOUT", 6 * 3600))


def run_options(discovery: Discovery) -> dict[str, Any]:
    """The options a run keeps from its definition (ids and filters, never secrets)."""
    return {
        "discovery_type": discovery.discovery_type,
        "sources": list(discovery.sources or []),
        "rule": rule_snapshot(discovery.rule),
        "move_to_inventory": discovery.move_to_inventory,
        "group_id": discovery.group_id,
        "use_access_control_rule": discovery.use_access_control_rule,
        "device_time_limit": discovery.device_time_limit,
        "sequential": discovery.sequential,
        "interval_minutes": discovery.interval_minutes,
        "batch_size": discovery.batch_size,
    }


def discovery_run_start(*, discovery: Discovery, user: Any = None, trigger: str = RunTrigger.MANUAL) -> DiscoveryRun:
    """Create a run with one row per selected device (Ignored devices skipped with the reason) and queue its first
    batch after commit; all batches at once unless the discovery executes batches sequentially.

    States: (none) -> queued, or completed at once when no device needs work.
    """
    options = run_options(discovery)
    devices = list(discovery.devices.select_related("gateway").order_by("name"))
    size = max(1, discovery.batch_size)
    batches = max(1, (len(devices) + size - 1) // size)
    with transaction.atomic():
        run = DiscoveryRun.objects.create(
            discovery=discovery,
            discovery_name=discovery.name,
            trigger=trigger,
            options=options,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
            batches_total=batches,
            devices_total=len(devices),
        )
        rows = []
        skipped = 0
        for index, device in enumerate(devices):
            ignored = device.cert_sync == CertSync.IGNORED
            skipped += ignored
            rows.append(
                DiscoveryRunDevice(
                    run=run,
                    device=device,
                    device_name=device.name,
                    batch=index // size,
                    state=DeviceRunState.SKIPPED if ignored else DeviceRunState.QUEUED,
                    error="Cert Sync is Ignored: no certificate discovery on this device." if ignored else "",
                    finished_at=timezone.now() if ignored else None,
                )
            )
        DiscoveryRunDevice.objects.bulk_create(rows, batch_size=1000)
        if skipped:
            DiscoveryRun.objects.filter(pk=run.pk).update(devices_done=skipped, devices_skipped=skipped)
        audit_record(
            actor=user,
            action="discovery.run",
            obj=discovery,
            summary=f"Discovery {discovery.name} started ({trigger}) on {len(devices)} device(s)",
        )
        first = 1 if discovery.sequential else batches
        DiscoveryRun.objects.filter(pk=run.pk).update(batches_started=first)
        from discovery.tasks import run_batch

        run_id = run.pk

        def dispatch() -> None:
            # After commit: the worker must find the run and its rows.
            for batch in range(first):
                run_batch.apply_async(args=[run_id, batch])
            run_finish_if_done(run_id=run_id)

        transaction.on_commit(dispatch)
    run.refresh_from_db()
    return run


def run_batch_dispatch(*, run_id: int, batch: int) -> int:
    """Queue the device tasks of one batch, each on its device's gateway queue. Returns how many were queued."""
    from discovery.tasks import run_device

    run = DiscoveryRun.objects.filter(pk=run_id).first()
    if run is None or run.finished:
        return 0
    limit = int(run.options.get("device_time_limit") or 300)
    rows = DiscoveryRunDevice.objects.filter(run_id=run_id, batch=batch, state=DeviceRunState.QUEUED).select_related(
        "device__gateway"
    )
    count = 0
    for row in rows:
        queue = row.device.gateway.queue if row.device is not None else "devices"
        run_device.apply_async(args=[row.pk], queue=queue, soft_time_limit=limit, time_limit=limit + 30)
        count += 1
    return count


def run_device_begin(*, row_id: int) -> DiscoveryRunDevice | None:
    """queued -> running for one device row (and the run queued -> running). None when the row is not queued
    (finished already, or another delivery has it)."""
    now = timezone.now()
    if not DiscoveryRunDevice.objects.filter(pk=row_id, state=DeviceRunState.QUEUED).update(
        state=DeviceRunState.RUNNING,
        started_at=now,
        attempts=F("attempts") + 1,
        worker=socket.gethostname()[:200],
    ):
        return None
    row = DiscoveryRunDevice.objects.select_related("run").get(pk=row_id)
    if row.run.state == RunState.QUEUED:
        # Only the run's first devices find it queued; the others skip a write to the row every device updates.
        DiscoveryRun.objects.filter(pk=row.run_id, state=RunState.QUEUED).update(state=RunState.RUNNING, started_at=now)
    return row


def run_device_retry(*, row_id: int, error: str) -> bool:
    """running -> queued before a retry of a transient failure (the error is kept for the record)."""
    return bool(
        DiscoveryRunDevice.objects.filter(pk=row_id, state=DeviceRunState.RUNNING).update(
            state=DeviceRunState.QUEUED, error=f"retrying after: {error}"[:4000]
        )
    )


@dataclass
class DeviceOutcome:
    certificates_found: int = 0
    certificates_new: int = 0
    locations_added: int = 0
    locations_removed: int = 0
    bindings_found: int = 0
    locked_files: int = 0
    filtered_out: int = 0
    sources: dict[str, Any] = field(default_factory=dict)
    warning: str = ""


def effective_status(move_to: str, cert_sync: str) -> str:
    """The status new certificates get: the discovery's choice, capped by the device's Cert Sync (a Monitored
    device's certificates are read-only, so never Managed)."""
    if move_to == MoveToInventory.DO_NOT_MOVE:
        return CertificateStatus.DISCOVERED
    wanted = CertificateStatus(move_to)
    if cert_sync == CertSync.MONITORED and STATUS_RANK[wanted] > STATUS_RANK[CertificateStatus.MONITORED]:
        return CertificateStatus.MONITORED
    return wanted


def discovery_device_run(*, row: DiscoveryRunDevice) -> DeviceOutcome:
    """Read one device (WinRM, no transaction open) and record what it has (one transaction). Raises the device
    layer's errors for the caller to report."""
    from devices.models import Device
    from devices.sessions import device_folder_credential, device_session

    options = row.run.options
    if row.device_id is None:
        raise DeviceGone("The device was deleted after the run started.")
    device = Device.objects.select_related("gateway", "credential", "folder_credential", "password_vault").get(
        pk=row.device_id
    )
    sources = set(options.get("sources") or [])
    read_store = Source.CERTIFICATE_STORE in sources and device.certificate_store
    file_path = device.file_system_path if Source.FILE_SYSTEM in sources and device.file_system_enabled else ""
    credential = device_folder_credential(device) if file_path else None
    # The vault comes with the device (one query less per device than password_vault_passwords).
    vault = device.password_vault
    passwords = vault.password_list() if file_path and vault is not None else []
    limit = float(options.get("device_time_limit") or 300)
    # Each WinRM call times out well inside the device's time limit, so a slow host is reported as a timeout by the
    # session (with the operation's name) before the task's soft limit interrupts it.
    timeout = min(float(settings.CLM_WINRM_TIMEOUT), max(5.0, limit / 2))
    with device_session(device, timeout=timeout) as session:
        snapshot = collect_host(
            session, read_store=read_store, read_sites=True, file_path=file_path, file_credential=credential
        )
    status = effective_status(options.get("move_to_inventory", MoveToInventory.MANAGED), device.cert_sync)
    rule = options.get("rule")
    policy = ReadPolicy(
        discovery_type=options.get("discovery_type", DiscoveryType.ALL),
        rule=RuleFilter.of(rule) if rule else None,
        access_rules=access_rules_load() if options.get("use_access_control_rule") else [],
        extract_keys=status == CertificateStatus.MANAGED,
        passwords=passwords,
    )
    if policy.discovery_type == DiscoveryType.IN_USE and snapshot.sites is None:
        sites = snapshot.sources.get("sites")
        raise SitesUnavailable(f"Certificates in use need the sites and bindings: {sites.detail if sites else ''}")
    now = timezone.now()
    findings, stats = findings_from_snapshot(snapshot, device_id=device.pk, policy=policy, now=now)
    group_id = options.get("group_id") or group_default_id()
    result = device_findings_apply(
        device_id=device.pk, findings=findings, options=IngestOptions(status=status, default_group_id=group_id)
    )
    failed_sources = [f"{name}: {source.detail}" for name, source in snapshot.sources.items() if not source.ok]
    bound_keys = {b.location_key for b in findings.bindings}
    bound = {result.certificate_ids[loc.sha256] for loc in findings.locations if loc.key in bound_keys and loc.sha256}
    failed_sources += device_discovered(
        DeviceDiscovered(
            device_id=device.pk,
            run_id=row.run_id,
            certificate_ids=tuple(sorted(result.certificate_ids.values())),
            bound_certificate_ids=tuple(sorted(bound)),
            status=status,
        )
    )
    return DeviceOutcome(
        certificates_found=len(findings.certificates),
        certificates_new=result.certificates_new,
        locations_added=result.locations_added,
        locations_removed=result.locations_removed,
        bindings_found=result.bindings,
        locked_files=result.locked_files,
        filtered_out=stats.filtered_out,
        sources={name: source.as_dict() for name, source in snapshot.sources.items()},
        warning="; ".join(failed_sources),
    )


class DeviceGone(Exception):
    """The device of a row was deleted while the run was under way."""


class SitesUnavailable(Exception):
    """The in-use discovery type needs the sites and bindings, and the host did not return them."""


def run_device_complete(
    *, row_id: int, outcome: DeviceOutcome, run_id: int | None = None, batch: int | None = None
) -> bool:
    """running -> completed with what was found; moves the run's totals and maybe finishes the run. `run_id` and
    `batch` (the row's, when the caller has them) save reading the row again."""
    updated = DiscoveryRunDevice.objects.filter(pk=row_id, state=DeviceRunState.RUNNING).update(
        state=DeviceRunState.COMPLETED,
        finished_at=timezone.now(),
        error=outcome.warning[:4000],
        error_kind="",
        sources=outcome.sources,
        certificates_found=outcome.certificates_found,
        certificates_new=outcome.certificates_new,
        locations_added=outcome.locations_added,
        locations_removed=outcome.locations_removed,
        bindings_found=outcome.bindings_found,
        locked_files=outcome.locked_files,
        filtered_out=outcome.filtered_out,
    )
    if updated:
        _after_device(row_id, failed=False, outcome=outcome, run_id=run_id, batch=batch)
    return bool(updated)


def run_device_fail(
    *,
    row_id: int,
    kind: str,
    error: str,
    states: tuple[str, ...] = (DeviceRunState.RUNNING,),
    run_id: int | None = None,
    batch: int | None = None,
) -> bool:
    """running (or queued, for the reaper) -> failed with the reason; the run carries on with the other devices."""
    updated = DiscoveryRunDevice.objects.filter(pk=row_id, state__in=states).update(
        state=DeviceRunState.FAILED, finished_at=timezone.now(), error_kind=kind[:32], error=error[:4000]
    )
    if updated:
        _after_device(row_id, failed=True, outcome=None, run_id=run_id, batch=batch)
    return bool(updated)


def _after_device(
    row_id: int, *, failed: bool, outcome: DeviceOutcome | None, run_id: int | None, batch: int | None
) -> None:
    if run_id is None or batch is None:
        run_id, batch = DiscoveryRunDevice.objects.filter(pk=row_id).values_list("run_id", "batch").get()
    counters: dict[str, Any] = {"devices_done": F("devices_done") + 1}
    if failed:
        counters["devices_failed"] = F("devices_failed") + 1
    if outcome is not None:
        counters.update(
            certificates_new=F("certificates_new") + outcome.certificates_new,
            locations_added=F("locations_added") + outcome.locations_added,
            locations_removed=F("locations_removed") + outcome.locations_removed,
            bindings_found=F("bindings_found") + outcome.bindings_found,
            locked_files=F("locked_files") + outcome.locked_files,
        )
    DiscoveryRun.objects.filter(pk=run_id).update(**counters)
    # One read of the run (after the increment) serves both checks below.
    run = DiscoveryRun.objects.filter(pk=run_id).first()
    if run is None:
        return
    _next_batch_if_due(run, batch)
    run_finish_if_done(run_id=run_id, run=run)


def _next_batch_if_due(run: DiscoveryRun, batch: int) -> None:
    run_id = run.pk
    if not run.options.get("sequential") or batch + 1 >= run.batches_total or run.batches_started != batch + 1:
        return
    if DiscoveryRunDevice.objects.filter(run_id=run_id, batch=batch).exclude(state__in=FINISHED_DEVICE_STATES).exists():
        return
    # Conditional: only the device that finishes the batch last (and wins this update) queues the next one.
    if DiscoveryRun.objects.filter(pk=run_id, batches_started=batch + 1).update(batches_started=batch + 2):
        from discovery.tasks import run_batch

        delay = int(run.options.get("interval_minutes") or 0) * 60
        transaction.on_commit(lambda: run_batch.apply_async(args=[run_id, batch + 1], countdown=delay))


def run_finish_if_done(*, run_id: int, run: DiscoveryRun | None = None) -> bool:
    """queued|running -> completed | failed once every device row is finished: failed only when every device that
    had work failed. Records the distinct number of certificates the run found. `run`: the row as just read."""
    if run is None:
        run = DiscoveryRun.objects.filter(pk=run_id).first()
    if run is None or run.finished or run.devices_done < run.devices_total:
        return False
    if DiscoveryRunDevice.objects.filter(run_id=run_id).exclude(state__in=FINISHED_DEVICE_STATES).exists():
        return False
    worked = run.devices_total - run.devices_skipped
    state = RunState.FAILED if worked > 0 and run.devices_failed == worked else RunState.COMPLETED
    device_ids = list(
        DiscoveryRunDevice.objects.filter(run_id=run_id, state=DeviceRunState.COMPLETED).values_list(
            "device_id", flat=True
        )
    )
    found = (
        CertificateLocation.objects.filter(device_id__in=device_ids, certificate__isnull=False)
        .values("certificate_id")
        .distinct()
        .count()
        if device_ids
        else 0
    )
    now = timezone.now()
    error = f"All {worked} device(s) failed." if state == RunState.FAILED else ""
    updated = DiscoveryRun.objects.filter(pk=run_id, state__in=[RunState.QUEUED, RunState.RUNNING]).update(
        state=state, finished_at=now, certificates_found=found, error=error
    )
    if updated:
        DiscoveryRun.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
    return bool(updated)


def discovery_runs_reap(*, now: Any = None) -> int:
    """Fail device rows whose worker is gone: running past the time limit plus a grace period, or queued longer
    than CLM_DISCOVERY_QUEUE_TIMEOUT (no worker consumes that gateway's queue). Returns how many were failed."""
    now = now or timezone.now()
    reaped = 0
    running = DiscoveryRunDevice.objects.filter(state=DeviceRunState.RUNNING).select_related("run")
    for row in running:
        limit = int(row.run.options.get("device_time_limit") or 300)
        if row.started_at and row.started_at < now - timedelta(seconds=limit + REAP_GRACE_SECONDS):
            reaped += run_device_fail(
                row_id=row.pk,
                kind="timeout",
                error=f"No result within the time limit of {limit} s (the worker stopped or was killed).",
            )
    stale = DiscoveryRunDevice.objects.filter(
        Q(state=DeviceRunState.QUEUED), run__created_at__lt=now - timedelta(seconds=_queue_timeout())
    )
    for row_id in stale.values_list("id", flat=True):
        reaped += run_device_fail(
            row_id=row_id,
            kind="not_started",
            error="No worker picked this device up (is the gateway's worker running?).",
            states=(DeviceRunState.QUEUED,),
        )
    return reaped
