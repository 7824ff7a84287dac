"""Sync status of connectors, and the connectors discovery creates.

Rules ("Connector Behavior for IIS", "Pushing a Server Certificate"):
- after a discovery of a device, a connector whose certificate is where its targets say (on the binding, in the
  store, in the file) is in sync; a pushed (or discovered) connector whose certificate is not there any more is out
  of sync -- so when a newer certificate was pushed to the same binding, the old certificate's connector goes out of
  sync; a connector never pushed whose certificate is not there stays unknown;
- after a verified push the connector is in sync; after its rollback, out of sync;
- a validation sweep sets it from what the endpoints serve (connectors.validation).

Discovery creates a profile connector for each binding that uses an inventory certificate, and a push-only
connector for each PFX file found in a folder or share; rediscovery updates their sync status.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Model
from django.utils import timezone

from certificates.bulk import insert_rows, update_rows
from certificates.choices import INVENTORY_STATUSES, BindingKind, LocationKind, LocationState
from certificates.hooks import register_connector_summaries
from certificates.models import CertificateBinding, CertificateLocation
from connectors.choices import (
    BindType,
    ConnectorSource,
    LocationType,
    PushStep,
    PushType,
    SyncStatus,
    TargetKind,
)
from connectors.models import AppConnector, ConnectorTarget, PushDevice
from connectors.validation import endpoints_deactivate, endpoints_replace
from devices.profiles import format_ip, profile_name
from discovery.hooks import DeviceDiscovered, on_device_discovered
from workorders.models import WorkOrder

NAME_LIMIT = 128


def _push_summary(order: WorkOrder, rows: Sequence[PushDevice]) -> dict[str, Any]:
    return {
        "work_order": order.pk,
        "work_order_id": order.work_order_id,
        "action": order.action,
        "ok": all(r.step == (PushStep.COMPLETED if order.action == "push" else PushStep.ROLLED_BACK) for r in rows),
        "at": timezone.now().isoformat(),
        "thumbprint": rows[0].thumbprint if rows else "",
        "devices": [{"device": r.device_id, "name": r.device.name, "step": r.step, "error": r.error} for r in rows],
    }


def connector_after_push(*, connector: AppConnector, order: WorkOrder, rows: Sequence[PushDevice]) -> None:
    """Record the push on the connector: its last push, the endpoints validation watches from now on, its status."""
    completed = [r for r in rows if r.step == PushStep.COMPLETED]
    status: str
    with transaction.atomic():
        for row in rows:
            if row.step == PushStep.COMPLETED:
                endpoints_replace(connector=connector, row=row)
            elif row.step == PushStep.ROLLED_BACK:
                endpoints_deactivate(connector=connector, device=row.device)
        if completed and len(completed) == len(rows):
            status, reason = SyncStatus.IN_SYNC, "Pushed and verified over TLS."
        elif completed:
            status, reason = SyncStatus.OUT_OF_SYNC, "The last push did not reach every server."
        else:
            status, reason = connector.sync_status, "The last push failed; nothing of it is in place."
        AppConnector.objects.filter(pk=connector.pk).update(
            last_push=_push_summary(order, rows),
            sync_status=status,
            sync_reason=reason,
            sync_checked_at=timezone.now(),
        )


def connector_after_rollback(*, connector: AppConnector, order: WorkOrder, rows: Sequence[PushDevice]) -> None:
    with transaction.atomic():
        for row in rows:
            if row.step == PushStep.ROLLED_BACK:
                endpoints_deactivate(connector=connector, device=row.device)
        AppConnector.objects.filter(pk=connector.pk).update(
            last_push=_push_summary(order, rows),
            sync_status=SyncStatus.OUT_OF_SYNC,
            sync_reason="Rolled back: the servers have their previous certificate again.",
            sync_checked_at=timezone.now(),
        )


# --- discovery ------------------------------------------------------------------------------------------------------


def _binding_profile(binding: CertificateBinding) -> str:
    return profile_name(
        site=binding.site_name,
        ip=binding.ip or "*",
        port=int(binding.port or 443),
        host=binding.host,
        protocol="https",
        sni=binding.sni,
    )


def _folder(path: str) -> str:
    return path.replace("/", "\\").rpartition("\\")[0]


def _unique_name(base: str, taken: set[str]) -> str:
    name = base[:NAME_LIMIT]
    n = 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name = base[: NAME_LIMIT - len(suffix)] + suffix
        n += 1
    taken.add(name.lower())
    return name


@dataclass
class _DeviceView:
    """What one device's recorded bindings and locations say, read once for both jobs of the hook: which connectors
    discovery owes (inventory certificates only) and where each certificate is (any certificate)."""

    bindings: Sequence[CertificateBinding]  # site https bindings, each with `cert_status` annotated
    locations: Sequence[CertificateLocation]  # readable locations with a certificate, each with `cert_status`
    targets: list[ConnectorTarget]  # every target of every connector with a target on the device

    def owed_bindings(self) -> list[CertificateBinding]:
        return [b for b in self.bindings if b.cert_status in INVENTORY_STATUSES]  # type: ignore[attr-defined]

    def owed_files(self) -> list[CertificateLocation]:
        return [
            loc
            for loc in self.locations
            if loc.kind == LocationKind.FILE and loc.cert_status in INVENTORY_STATUSES  # type: ignore[attr-defined]
        ]


def _device_view(device: Any) -> _DeviceView:
    # Only the columns the hook reads (a deferred field read later would cost a query per row): whole rows with
    # their JSON and text columns made these three queries the hook's main cost on a rerun.
    bindings = list(
        CertificateBinding.objects.filter(device=device, kind=BindingKind.SITE, protocol="https")
        .select_related("location")
        .only(
            "site_name", "ip", "port", "host", "sni",
            "location", "location__certificate", "location__store", "location__friendly_name",
        )
        .annotate(cert_status=F("location__certificate__status"))
        .order_by("site_name", "port", "host")
    )  # fmt: skip
    locations = list(
        CertificateLocation.objects.filter(device=device, state=LocationState.OK, certificate__isnull=False)
        .only("kind", "store", "path", "certificate", "friendly_name")
        .annotate(cert_status=F("certificate__status"))
        .order_by("path")
    )
    # The connectors come with their targets (all of them, on any device) in one query. Not the target's device:
    # loading a Device decrypts its secrets, and only its name is wanted (see _presence).
    targets = list(
        ConnectorTarget.objects.filter(connector__in=AppConnector.objects.filter(targets__device=device))
        .select_related("connector")
        .only(
            "connector", "device", "kind", "profile", "site", "ip", "port", "host", "new_ip", "new_port", "new_host",
            "connector__certificate", "connector__location_type", "connector__file_path", "connector__store",
            "connector__source", "connector__last_push", "connector__sync_status", "connector__sync_reason",
            "connector__sync_checked_at",
        )
        .order_by("connector_id", "pk")
    )  # fmt: skip
    return _DeviceView(bindings=bindings, locations=locations, targets=targets)


def _discovered_connectors(device: Any, view: _DeviceView) -> list[ConnectorTarget]:
    """Create the connectors discovery owes this device's findings (existing ones are kept, not duplicated); returns
    the targets created, each with its connector."""
    existing: set[tuple[int | None, str]] = {
        (t.connector.certificate_id, t.profile) for t in view.targets if t.device_id == device.pk
    }
    existing_files: set[tuple[int | None, str]] = {
        (t.connector.certificate_id, t.connector.file_path)
        for t in view.targets
        if t.device_id == device.pk and t.connector.location_type == LocationType.FILE_SYSTEM
    }
    new_bindings = []
    for binding in view.owed_bindings():
        key = (binding.location.certificate_id, _binding_profile(binding))
        if key[0] is not None and key not in existing:
            existing.add(key)
            new_bindings.append(binding)
    new_files = []
    for location in view.owed_files():
        key = (location.certificate_id, _folder(location.path))
        if key[0] is not None and key not in existing_files:
            existing_files.add(key)
            new_files.append(location)
    if not new_bindings and not new_files:
        return []
    wanted: list[tuple[AppConnector, ConnectorTarget]] = []
    cert_ids = {
        c for c in [*(b.location.certificate_id for b in new_bindings), *(f.certificate_id for f in new_files)] if c
    }
    taken: dict[int | None, set[str]] = defaultdict(set)
    for owner, name in AppConnector.objects.filter(certificate_id__in=cert_ids).values_list("certificate_id", "name"):
        taken[owner].add(name.lower())
    for binding in new_bindings:
        cert_id = binding.location.certificate_id
        assert cert_id is not None  # new_bindings only has bindings of recorded certificates
        profile = _binding_profile(binding)
        host = f":{binding.host}" if binding.host else ""
        base = f"{device.name} {binding.site_name} {format_ip(binding.ip)}:{binding.port}{host}"
        connector = AppConnector(
            certificate_id=cert_id,
            name=_unique_name(base, taken[cert_id]),
            description="Created by discovery from the binding that uses this certificate.",
            push_type=PushType.PUSH_AND_BIND,
            bind_type=BindType.UPDATE_CERTIFICATE,
            store="web_hosting" if binding.location.store == "WebHosting" else "personal",
            friendly_name=binding.location.friendly_name[:255],
            source=ConnectorSource.DISCOVERY,
        )
        target = ConnectorTarget(
            device=device,
            kind=TargetKind.PROFILE,
            profile=profile,
            site=binding.site_name,
            protocol="https",
            ip=binding.ip or "*",
            port=binding.port,
            host=binding.host,
            sni=binding.sni,
        )
        wanted.append((connector, target))
    for location in new_files:
        folder = _folder(location.path)
        assert location.certificate_id is not None
        connector = AppConnector(
            certificate_id=location.certificate_id,
            name=_unique_name(f"{device.name} {location.path}", taken[location.certificate_id]),
            description="Created by discovery from a PFX file in a folder or share (set the file password to push).",
            push_type=PushType.PUSH,
            location_type=LocationType.FILE_SYSTEM,
            file_path=folder[:500],
            friendly_name=location.friendly_name[:255],
            source=ConnectorSource.DISCOVERY,
        )
        wanted.append((connector, ConnectorTarget(device=device, kind=TargetKind.DEVICE, profile=device.name)))
    connectors = [c for c, _ in wanted]
    now = timezone.now()
    for connector in connectors:
        connector.created_at = connector.updated_at = now  # auto_now(_add) are set by save(), not by insert_rows
    ids = {(cert, name): pk for pk, cert, name in _insert(AppConnector, connectors, ["id", "certificate_id", "name"])}
    targets = []
    for connector, target in wanted:
        connector.pk = ids[(connector.certificate_id, connector.name)]
        target.connector = connector
        targets.append(target)
    target_ids = {
        (connector_id, profile): pk
        for pk, connector_id, profile in _insert(ConnectorTarget, targets, ["id", "connector_id", "profile"])
    }
    for target in targets:
        target.pk = target_ids[(target.connector_id, target.profile)]
    return targets


def _insert(model: type[Model], objs: Sequence[Model], returning: list[str]) -> list[tuple[Any, ...]]:
    """INSERT new rows through certificates.bulk.insert_rows (a first discovery creates tens of connectors per
    device; bulk_create spent twice as long preparing them). Rows are matched back by `returning`'s unique key, not
    by position. Encrypted fields would be written as given: the connectors created here have none set."""
    assert all(getattr(obj, "file_password", None) is None for obj in objs)
    fields = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    rows = insert_rows(model, objs, fields, returning=returning)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = "default"
    return rows


def _binding_key(site: str, ip: str | None, port: int | None, host: str) -> str:
    return f"{site.lower()}|{format_ip(ip).lower()}|{port}|{(host or '').lower()}"


Where = set[tuple[int, str, int]]


def _where(device_id: int, bindings: Iterable[tuple[Any, ...]], locations: Iterable[tuple[Any, ...]]) -> Where:
    """(device, "bound"|"store"|"file" key, certificate) for rows of site https bindings (site, ip, port, host,
    certificate) and readable locations (kind, store, path, certificate)."""
    out: Where = set()
    for site, ip, port, host, cert_id in bindings:
        if cert_id is not None:
            out.add((device_id, "bound|" + _binding_key(site, ip, port, host), cert_id))
    for kind, store, path, cert_id in locations:
        if kind == LocationKind.STORE:
            out.add((device_id, "store|" + store.lower(), cert_id))
        else:
            out.add((device_id, "file|" + _folder(path).lower(), cert_id))
    return out


def _presence(device: Any, view: _DeviceView, targets: list[ConnectorTarget]) -> dict[int, tuple[bool, str]]:
    """For each connector of `targets`: (is its certificate everywhere its targets say, why not). The discovered
    device's rows come from `view`; other devices' targets (a connector may target several) are read here."""
    where = _where(
        device.pk,
        ((b.site_name, b.ip, b.port, b.host, b.location.certificate_id) for b in view.bindings),
        ((loc.kind, loc.store, loc.path, loc.certificate_id) for loc in view.locations),
    )
    from devices.models import Device

    others = {t.device_id for t in targets} - {device.pk}
    names = {device.pk: device.name}
    if others:
        names.update(Device.objects.filter(pk__in=others).values_list("id", "name"))
        by_device: dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = defaultdict(lambda: ([], []))
        for device_id, *row in CertificateBinding.objects.filter(
            device_id__in=others, kind=BindingKind.SITE, protocol="https"
        ).values_list("device_id", "site_name", "ip", "port", "host", "location__certificate_id"):
            by_device[device_id][0].append(tuple(row))
        for device_id, *row in CertificateLocation.objects.filter(
            device_id__in=others, certificate__isnull=False, state=LocationState.OK
        ).values_list("device_id", "kind", "store", "path", "certificate_id"):
            by_device[device_id][1].append(tuple(row))
        for device_id, (bindings, locations) in by_device.items():
            where |= _where(device_id, bindings, locations)
    by_connector: dict[int, list[ConnectorTarget]] = defaultdict(list)
    for t in targets:
        by_connector[t.connector_id].append(t)
    out: dict[int, tuple[bool, str]] = {}
    for connector_id, connector_targets in by_connector.items():
        connector = connector_targets[0].connector
        missing = []
        for t in connector_targets:
            cert = connector.certificate_id
            if t.kind in (TargetKind.PROFILE, TargetKind.NEW_BINDING):
                key = _binding_key(t.site, t.new_ip or t.ip, t.new_port or t.port, t.new_host or t.host)
                if (t.device_id, "bound|" + key, cert) not in where:
                    missing.append(f"not on {t.profile} of {names.get(t.device_id)}")
            elif connector.location_type == LocationType.FILE_SYSTEM:
                if (t.device_id, "file|" + connector.file_path.rstrip("\\/").lower(), cert) not in where:
                    missing.append(f"no file in {connector.file_path} on {names.get(t.device_id)}")
            elif (t.device_id, "store|" + connector.store_name.lower(), cert) not in where:
                missing.append(f"not in LocalMachine\\{connector.store_name} of {names.get(t.device_id)}")
        out[connector_id] = (not missing, "; ".join(missing)[:480])
    return out


@on_device_discovered
def connectors_on_discovery(event: DeviceDiscovered) -> None:
    """Discovery's hook (discovery.hooks), after a device's findings are committed."""
    connectors_after_discovery(device_id=event.device_id)


def connectors_after_discovery(*, device_id: int) -> dict[str, int]:
    """After a discovery of a device: create the connectors owed to what was found there, then re-judge the sync
    status of every connector with a target on the device (from the recorded bindings and locations: a source that
    could not be read left its rows as they were). A fixed number of queries: four when nothing is created and every
    connector targets only this device, plus the status updates."""
    from devices.models import Device

    device = Device.objects.filter(pk=device_id).only("id", "name").first()
    if device is None:
        return {"created": 0, "updated": 0}
    view = _device_view(device)
    created = _discovered_connectors(device, view)
    targets = view.targets + created
    presence = _presence(device, view, targets)
    now = timezone.now()
    changed = []
    unchanged = []
    seen: set[int] = set()
    for target in targets:
        connector = target.connector
        if connector.pk in seen:
            continue
        seen.add(connector.pk)
        present, why = presence[connector.pk]
        expected_there = connector.source == ConnectorSource.DISCOVERY or bool((connector.last_push or {}).get("ok"))
        if present:
            status, reason = SyncStatus.IN_SYNC, "Discovery found the certificate where the connector puts it."
        elif expected_there:
            status, reason = SyncStatus.OUT_OF_SYNC, f"Discovery: {why}."
        else:
            status, reason = SyncStatus.UNKNOWN, f"Not pushed yet; discovery: {why}."
        if (connector.sync_status, connector.sync_reason) == (status, reason[:500]):
            unchanged.append(connector.pk)
            continue
        connector.sync_status, connector.sync_reason, connector.sync_checked_at = status, reason[:500], now
        changed.append(connector)
    if changed:
        # One statement (arrays joined by primary key): bulk_update's CASE per row cost more than the rest of the
        # handler on a first discovery, where every connector just created moves from unknown to in sync.
        update_rows(AppConnector, changed, ["sync_status", "sync_reason", "sync_checked_at"])
    if unchanged:
        AppConnector.objects.filter(pk__in=unchanged).update(sync_checked_at=now)
    return {"created": len(created), "updated": len(changed)}


# --- the inventory's `connectors` list ------------------------------------------------------------------------------


@register_connector_summaries
def connector_summaries(certificate_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = AppConnector.objects.filter(certificate_id__in=list(certificate_ids)).values_list(
        "certificate_id", "id", "name", "push_type", "sync_status"
    )
    for cert_id, pk, name, push_type, sync in rows:
        out[cert_id].append({"id": pk, "name": name, "push_type": push_type, "sync_status": sync})
    return dict(out)
