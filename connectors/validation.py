"""Push validation: every check of what an endpoint serves, the endpoints a verified push leaves to watch, the
scheduled sweep over them (TLS handshakes on one event loop, bounded concurrency) and the numbers of the Push
Validation Report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from certificates.bulk import insert_rows, update_rows
from connectors.choices import CheckSource, SweepState, SyncStatus
from connectors.endpoints import CheckResult
from connectors.models import AppConnector, ConnectorEndpoint, EndpointCheck, PushDevice, ValidationSweep
from connectors.settings_services import general_settings_get
from connectors.tls import TlsEndpoint, fetch_many

CHECK_RETENTION_DAYS = 90
SWEEP_TIMEOUT = 5.0
CHECK_FIELDS = (
    "connector_id",
    "device_id",
    "endpoint_id",
    "sweep_id",
    "source",
    "site",
    "address",
    "ip",
    "port",
    "host",
    "expected_thumbprint",
    "served_thumbprint",
    "ok",
    "error",
    "at",
)


def checks_record(
    *,
    connector: AppConnector,
    device: Any,
    work_order: Any,
    results: Sequence[CheckResult],
    source: str,
) -> list[EndpointCheck]:
    """Append the TLS checks made right after a push or a rollback (the report counts them)."""
    now = timezone.now()
    rows = [
        EndpointCheck(
            connector=connector,
            device=device,
            work_order=work_order,
            source=source,
            site=r.expectation.site[:255],
            address=r.expectation.address[:255],
            ip=r.expectation.ip[:64],
            port=r.expectation.port,
            host=r.expectation.sni_name[:255],
            expected_thumbprint=r.expectation.expect,
            served_thumbprint=r.served,
            ok=r.ok,
            error=r.error[:500],
            at=now,
        )
        for r in results
    ]
    return EndpointCheck.objects.bulk_create(rows)


def endpoints_replace(*, connector: AppConnector, row: PushDevice) -> int:
    """After a verified push on one device: the endpoints its checks proved become what validation watches
    (the connector's older endpoints on that device stop being watched)."""
    now = timezone.now()
    keep: list[int] = []
    for item in row.evidence:
        if item.get("phase") != "push" or not item.get("ok") or not item.get("expected_thumbprint"):
            continue
        endpoint, _ = ConnectorEndpoint.objects.update_or_create(
            connector=connector,
            device=row.device,
            ip=item["ip"][:64],
            port=int(item["port"]),
            host=(item.get("host") or "")[:255],
            defaults={
                "site": item.get("site", "")[:255],
                "address": item["address"][:255],
                "expected_thumbprint": item["expected_thumbprint"],
                "active": True,
                "last_checked_at": now,
                "last_ok": True,
                "last_served_thumbprint": item.get("served_thumbprint", ""),
                "last_error": "",
            },
        )
        keep.append(endpoint.pk)
    ConnectorEndpoint.objects.filter(connector=connector, device=row.device).exclude(pk__in=keep).update(active=False)
    return len(keep)


def endpoints_deactivate(*, connector: AppConnector, device: Any) -> int:
    return ConnectorEndpoint.objects.filter(connector=connector, device=device, active=True).update(active=False)


# --- the sweep ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    pk: int
    connector_id: int
    device_id: int
    site: str
    address: str
    ip: str
    port: int
    host: str
    expected: str


def _sni(host: str) -> str:
    from connectors.endpoints import WILDCARD_PROBE

    return host.replace("*", WILDCARD_PROBE, 1) if host.startswith("*.") else host


def _run_loop(targets: list[_Target], concurrency: int, timeout: float) -> list[Any]:
    endpoints = [TlsEndpoint(ip=t.address, port=t.port, host=_sni(t.host)) for t in targets]

    def run() -> list[Any]:
        return asyncio.run(fetch_many(endpoints, concurrency, timeout))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def sweep_targets(*, gateway_id: int | None = None) -> list[_Target]:
    query = ConnectorEndpoint.objects.filter(active=True)
    if gateway_id is not None:
        query = query.filter(device__gateway_id=gateway_id)
    return [
        _Target(*row)
        for row in query.order_by("pk").values_list(
            "pk", "connector_id", "device_id", "site", "address", "ip", "port", "host", "expected_thumbprint"
        )
    ]


def push_validation_sweep(
    *, gateway_id: int | None = None, trigger: str = "beat", concurrency: int | None = None
) -> ValidationSweep:
    """Check every watched endpoint (behind one gateway, or all) over TLS, record each check, update each
    endpoint's last result, each connector's last validation and its sync status (running -> completed)."""
    settings = general_settings_get()
    limit = concurrency or settings.push_validation_concurrency
    sweep = ValidationSweep.objects.create(gateway_id=gateway_id, trigger=trigger)
    started = time.monotonic()
    targets = sweep_targets(gateway_id=gateway_id)
    served = _run_loop(targets, limit, SWEEP_TIMEOUT) if targets else []
    now = timezone.now()
    checks, updates = [], []
    by_connector: dict[int, list[dict[str, Any]]] = {}
    for target, got in zip(targets, served, strict=True):
        ok = got.thumbprint == target.expected
        error = "" if ok else (got.error or f"served {got.thumbprint}, expected {target.expected}")
        checks.append(
            EndpointCheck(
                connector_id=target.connector_id,
                device_id=target.device_id,
                endpoint_id=target.pk,
                sweep=sweep,
                source=CheckSource.SWEEP,
                site=target.site,
                address=target.address,
                ip=target.ip,
                port=target.port,
                host=_sni(target.host),
                expected_thumbprint=target.expected,
                served_thumbprint=got.thumbprint or "",
                ok=ok,
                error=error[:500],
                at=now,
            )
        )
        updates.append(
            ConnectorEndpoint(
                pk=target.pk,
                last_checked_at=now,
                last_ok=ok,
                last_served_thumbprint=got.thumbprint or "",
                last_error=error[:500],
            )
        )
        by_connector.setdefault(target.connector_id, []).append(
            {
                "device": target.device_id,
                "site": target.site,
                "ip": target.ip,
                "port": target.port,
                "host": target.host,
                "served_thumbprint": got.thumbprint,
                "ok": ok,
                "error": error[:200],
            }
        )
    succeeded = sum(1 for c in checks if c.ok)
    with transaction.atomic():
        insert_rows(EndpointCheck, checks, CHECK_FIELDS, returning=["id"])
        update_rows(ConnectorEndpoint, updates, ["last_checked_at", "last_ok", "last_served_thumbprint", "last_error"])
        _connectors_validated(by_connector, now)
        ValidationSweep.objects.filter(pk=sweep.pk).update(
            state=SweepState.COMPLETED,
            total=len(checks),
            succeeded=succeeded,
            failed=len(checks) - succeeded,
            duration_ms=int((time.monotonic() - started) * 1000),
            finished_at=timezone.now(),
        )
    EndpointCheck.objects.filter(at__lt=now - timedelta(days=CHECK_RETENTION_DAYS)).delete()
    sweep.refresh_from_db()
    return sweep


def _connectors_validated(by_connector: dict[int, list[dict[str, Any]]], now: datetime) -> None:
    """Each connector's last validation, and its sync status from it: every endpoint serves its certificate ->
    in sync; one serves something else (or nothing) -> out of sync."""
    connectors = AppConnector.objects.in_bulk(list(by_connector))
    changed = []
    for connector_id, endpoints in by_connector.items():
        connector = connectors.get(connector_id)
        if connector is None:
            continue
        ok = all(e["ok"] for e in endpoints)
        connector.last_validation = {"ok": ok, "endpoints": endpoints, "at": now.isoformat()}
        connector.sync_status = SyncStatus.IN_SYNC if ok else SyncStatus.OUT_OF_SYNC
        bad = next((e for e in endpoints if not e["ok"]), None)
        connector.sync_reason = (
            "Validation: every endpoint serves this certificate."
            if ok
            else f"Validation: {bad['ip']}:{bad['port']} {bad['host']} {bad['error']}"[:500]
            if bad
            else ""
        )
        connector.sync_checked_at = now
        changed.append(connector)
    update_rows(AppConnector, changed, ["last_validation", "sync_status", "sync_reason", "sync_checked_at"])


# --- the report -----------------------------------------------------------------------------------------------------


def report_data(*, days: int = 7, now: datetime | None = None, failing_limit: int = 200) -> dict[str, Any]:
    """The Push Validation Report: checks in the last `days` (succeeded vs failed, per hour for a day or less, per
    day beyond), the push operations in that time, the watched endpoints' current state and the failing ones."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    checks = EndpointCheck.objects.filter(at__gte=since)
    totals = checks.aggregate(total=Count("id"), succeeded=Count("id", filter=Q(ok=True)))
    bucket = TruncHour("at") if days <= 1 else TruncDay("at")
    series = (
        checks.annotate(period=bucket)
        .values("period")
        .annotate(succeeded=Count("id", filter=Q(ok=True)), failed=Count("id", filter=Q(ok=False)))
        .order_by("period")
    )
    pushes = PushDevice.objects.filter(
        finished_at__gte=since, work_order__action="push", step__in=["completed", "failed", "rolled_back"]
    ).aggregate(total=Count("id"), succeeded=Count("id", filter=Q(step="completed")))
    active = ConnectorEndpoint.objects.filter(active=True)
    current = active.aggregate(
        total=Count("id"), succeeded=Count("id", filter=Q(last_ok=True)), failed=Count("id", filter=Q(last_ok=False))
    )
    failing = (
        active.filter(last_ok=False)
        .select_related("connector__certificate", "device")
        .order_by("-last_checked_at", "pk")[:failing_limit]
    )
    recent_failures = (
        checks.filter(ok=False).select_related("connector", "device").order_by("-at", "-id")[:failing_limit]
    )
    return {
        "days": days,
        "since": since,
        "total": totals["total"],
        "succeeded": totals["succeeded"],
        "failed": totals["total"] - totals["succeeded"],
        "series": [{"period": row["period"], "succeeded": row["succeeded"], "failed": row["failed"]} for row in series],
        "pushes": {
            "total": pushes["total"],
            "succeeded": pushes["succeeded"],
            "failed": pushes["total"] - pushes["succeeded"],
        },
        "current": current,
        "failing": list(failing),
        "recent_failures": list(recent_failures),
        "last_sweep": ValidationSweep.objects.filter(state=SweepState.COMPLETED).first(),
    }


def endpoint_json(endpoint: ConnectorEndpoint) -> dict[str, Any]:
    return {
        "connector": endpoint.connector_id,
        "device": endpoint.device_id,
        "site": endpoint.site,
        "ip": endpoint.ip,
        "port": endpoint.port,
        "host": endpoint.host,
        "expected_thumbprint": endpoint.expected_thumbprint,
        "served_thumbprint": endpoint.last_served_thumbprint,
        "ok": endpoint.last_ok,
        "error": endpoint.last_error,
        "checked_at": endpoint.last_checked_at.isoformat() if endpoint.last_checked_at else None,
    }


def check_json(check: EndpointCheck) -> dict[str, Any]:
    return {
        "connector": check.connector_id,
        "device": check.device_id,
        "work_order": check.work_order_id,
        "source": check.source,
        "site": check.site,
        "ip": check.ip,
        "port": check.port,
        "host": check.host,
        "expected_thumbprint": check.expected_thumbprint,
        "served_thumbprint": check.served_thumbprint,
        "ok": check.ok,
        "error": check.error,
        "at": check.at.isoformat(),
    }


def gateways_with_endpoints() -> Iterable[int]:
    return (
        ConnectorEndpoint.objects.filter(active=True)
        .values_list("device__gateway_id", flat=True)
        .distinct()
        .order_by("device__gateway_id")
    )
