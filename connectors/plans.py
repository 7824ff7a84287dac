"""What a push plans and expects, derived from its preview, its result and its snapshot: the binding changes sent
to `push_and_bind`, whether a push the portal never heard back from is on the host, the restore snapshot rebuilt
from the preview for such a push, the endpoints that must serve the certificate afterwards (or, after a restore,
what they served before), and the certificates the push took off their bindings."""

from __future__ import annotations

from typing import Any

from connectors.endpoints import Expectation, expectation_for_binding
from connectors.models import PushDevice
from devices.iis import operations
from devices.profiles import parse_binding_information


def binding_target(item: dict[str, Any]) -> operations.BindingTarget:
    return operations.BindingTarget(
        action=item["action"],
        site=item["site"],
        binding_information=item.get("binding_information", ""),
        new_binding_information=item.get("new_binding_information"),
        ssl_flags_set=int(item.get("ssl_flags_set") or 0),
        ssl_flags_clear=int(item.get("ssl_flags_clear") or 0),
    )


def binding_applied(sites: operations.SiteInventory, item: dict[str, Any], thumb: str) -> bool:
    def key(info: str) -> tuple[str, int | None, str]:
        ip, port, host = parse_binding_information(info)
        return (ip.lower(), port, host.lower())

    wanted = key(item.get("new_binding_information") or item.get("binding_information") or "")
    site = sites.site(item["site"])
    if site is None:
        return False
    for b in site.bindings:
        if b.protocol == "https" and key(b.binding_information) == wanted:
            return (b.certificate_hash or "").upper() == thumb.upper()
    return False


def snapshot_from_preview(row: PushDevice, store: str) -> dict[str, Any]:
    """The restore snapshot (push_and_bind's format, version 1) rebuilt from what the preview read, for a push
    whose own snapshot never reached the portal. Binding attributes the listing does not report are not in it."""
    preview = row.preview or {}
    entries = {(e["kind"], e["endpoint"].lower()): e for e in preview.get("http_sys") or []}
    bindings, touched = [], []
    for change in preview.get("changes") or []:
        before = change.get("before")
        bindings.append(
            {
                "site": change["site"],
                "action": change["action"],
                "before": {
                    "protocol": "https",
                    "binding_information": before["binding_information"],
                    "ssl_flags": before["ssl_flags"],
                    "certificate_hash": before["certificate_hash"],
                    "certificate_store": before["certificate_store"],
                    "attributes": {},
                }
                if before
                else None,
                "after": {"protocol": "https", "binding_information": change["after"]["binding_information"]},
            }
        )
        for ref in ((before or {}).get("http_sys"), change.get("http_sys")):
            if ref:
                key = (ref["kind"], ref["endpoint"].lower())
                if key not in touched:
                    touched.append(key)
    present = any(c.get("present") for c in preview.get("certificates") or [] if c.get("role") == "certificate")
    return {
        "version": 1,
        "host": row.device.name,
        "taken_at": row.previewed_at.isoformat() if row.previewed_at else "",
        "bindings": bindings,
        "ftp": [],
        "http_sys": [{"kind": k, "endpoint": e, "before": entries.get((k, e))} for k, e in touched],
        "certificate": {"store": store, "thumbprint": row.thumbprint, "was_present": present},
        # The chain certificates the preview did not find on the host: the lost push is what would have added them.
        "chain_added": [
            {"store": c["store"], "thumbprint": c["thumbprint"]}
            for c in preview.get("certificates") or []
            if c.get("role") in ("intermediate", "root") and c.get("store") and not c.get("present")
        ],
    }


def _site_started(row: PushDevice) -> dict[str, bool]:
    return {s["name"].lower(): s["state"].lower() == "started" for s in (row.preview or {}).get("sites") or []}


def expectations_after_push(row: PushDevice, hostname: str) -> list[Expectation]:
    """Each changed or created binding, and every binding sharing its non-SNI entry, must serve the pushed one."""
    started = _site_started(row)
    thumb = row.thumbprint
    changes = row.result.get("bindings")
    if changes is None:
        changes = [
            {
                "site": c["site"],
                "action": c["action"],
                "binding_information": c["after"]["binding_information"],
                "ssl_flags": c["after"]["ssl_flags"],
                "shared_with": c.get("shared_with") or [],
            }
            for c in (row.preview or {}).get("changes") or []
        ]
    out = []
    for c in changes:
        if c.get("action") == "ftp" or not c.get("binding_information"):
            continue
        role = "created" if c["action"] == "create_binding" else "changed"
        out.append(
            expectation_for_binding(
                site=c["site"],
                binding_information=c["binding_information"],
                ssl_flags=int(c.get("ssl_flags") or 0),
                device_hostname=hostname,
                role=role,
                site_started=started.get(c["site"].lower(), True),
                expect=thumb,
            )
        )
        for shared in c.get("shared_with") or []:
            out.append(
                expectation_for_binding(
                    site=shared["site"],
                    binding_information=shared["binding_information"],
                    ssl_flags=0,
                    device_hostname=hostname,
                    role="shared",
                    site_started=started.get(shared["site"].lower(), True),
                    expect=thumb,
                )
            )
    return out


def expectations_after_restore(row: PushDevice, hostname: str) -> list[Expectation]:
    """Each binding back to the certificate it had (a created one: not serving the pushed certificate any more)."""
    started = _site_started(row)
    thumb = row.thumbprint.upper()
    out = []
    for item in (row.snapshot or {}).get("bindings") or []:
        before, after = item.get("before"), item.get("after") or {}
        site_up = started.get(str(item.get("site", "")).lower(), True)
        if before and before.get("certificate_hash"):
            out.append(
                expectation_for_binding(
                    site=item["site"],
                    binding_information=before["binding_information"],
                    ssl_flags=int(before.get("ssl_flags") or 0),
                    device_hostname=hostname,
                    role="restored",
                    site_started=site_up,
                    expect=str(before["certificate_hash"]),
                )
            )
            if before["binding_information"] == after.get("binding_information"):
                continue
        if after.get("binding_information") and (not before or before.get("certificate_hash", "").upper() != thumb):
            out.append(
                expectation_for_binding(
                    site=item["site"],
                    binding_information=after["binding_information"],
                    ssl_flags=int((before or {}).get("ssl_flags") or 0),
                    device_hostname=hostname,
                    role="restored",
                    site_started=site_up,
                    expect_not=thumb,
                )
            )
    return out


def previous_certificates(row: PushDevice) -> list[tuple[str, str]]:
    """(thumbprint, store) of the certificates the push took off its bindings."""
    seen: list[tuple[str, str]] = []
    for item in (row.snapshot or {}).get("bindings") or []:
        before = item.get("before") or {}
        thumb = str(before.get("certificate_hash") or "").upper()
        if thumb and thumb != row.thumbprint.upper():
            pair = (thumb, str(before.get("certificate_store") or "My"))
            if pair not in seen:
                seen.append(pair)
    return seen
