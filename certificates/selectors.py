"""Queries on the inventory used by more than one caller."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Prefetch, QuerySet, prefetch_related_objects
from django.db.models.functions import TruncWeek
from django.utils import timezone

from certificates.choices import INVENTORY_STATUSES, InventoryKind
from certificates.keyset import Ordering, Page, keyset_page
from certificates.models import Certificate, CertificateBinding, CertificateGroup, CertificateLocation, SavedFilter


def group_default() -> CertificateGroup:
    """The default certificate group (created by a migration; re-created if someone removed it)."""
    group = CertificateGroup.objects.filter(is_default=True).select_related("policy").first()
    if group is None:
        group, _ = CertificateGroup.objects.get_or_create(name="Default", defaults={"is_default": True})
    return group


def group_default_id() -> int:
    """The default group's id (one indexed lookup; the group itself only when it has to be re-created)."""
    pk = CertificateGroup.objects.filter(is_default=True).values_list("pk", flat=True).first()
    return pk if pk is not None else group_default().pk


def group_or_default(group_id: int | None) -> CertificateGroup:
    """The group with this id, or the default group for None (API.md: null means the default group)."""
    if group_id is None:
        return group_default()
    return CertificateGroup.objects.select_related("policy").get(pk=group_id)


# -- the inventory lists ----------------------------------------------------------------------------------------------

ORDERINGS = {
    o.name: o
    for o in (
        Ordering("id", "id"),
        Ordering("common_name", "common_name"),
        Ordering("not_after", "not_after", is_datetime=True),
        Ordering("not_before", "not_before", is_datetime=True),
        Ordering("issuer", "issuer_common_name"),
        Ordering("key_size", "key_size"),
        Ordering("status", "status"),
        Ordering("locations", "location_count"),
    )
}
DEFAULT_ORDERING = "-id"
COUNT_CAP = 10_000


def certificate_list(*, kind: str | None = None) -> QuerySet[Certificate]:
    """The inventory queryset (Server: everything but clientAuth-only; Client: clientAuth-only; None: both), with
    what a list row shows joined in (group, policy, key)."""
    # The key's PKCS#8 is never loaded (or decrypted) to list certificates: only where the key is.
    queryset = Certificate.objects.select_related("group__policy", "private_key").defer(
        "der", "chain_pem", "private_key__pkcs8", "private_key__hsm_handle"
    )
    if kind == InventoryKind.CLIENT:
        queryset = queryset.filter(is_client=True)
    elif kind == InventoryKind.SERVER:
        queryset = queryset.filter(is_client=False)
    return queryset


def parse_ordering(value: str | None) -> tuple[Ordering, bool]:
    """`not_after`, `-not_after`, ... -> (Ordering, descending). Unknown names raise KeyError."""
    value = (value or DEFAULT_ORDERING).strip()
    descending = value.startswith("-")
    return ORDERINGS[value.lstrip("-")], descending


def certificate_page(
    queryset: QuerySet[Certificate], *, ordering: str | None, cursor: str | None, page_size: int
) -> Page[Certificate]:
    """One keyset page of the inventory with the page's locations and bindings prefetched: three queries whatever
    the page size (certificates with group, policy and key; locations with devices; bindings)."""
    order, descending = parse_ordering(ordering)
    page = keyset_page(queryset, ordering=order, descending=descending, cursor=cursor, page_size=page_size)
    prefetch_related_objects(page.items, certificate_locations_prefetch())
    return page


def certificate_locations_prefetch() -> Prefetch:
    return Prefetch(
        "locations",
        queryset=CertificateLocation.objects.select_related("device")
        .only(
            "id",
            "certificate_id",
            "device_id",
            "device__name",
            "kind",
            "store",
            "path",
            "state",
            "friendly_name",
            "has_private_key",
            "last_seen",
        )
        .prefetch_related(Prefetch("bindings", queryset=CertificateBinding.objects.order_by("site_name", "key"))),
    )


def certificate_count_capped(queryset: QuerySet[Certificate], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): counting a million rows on every page view is what made peers' inventories slow; past
    `cap` matching rows the list says "10,000+" instead."""
    count = queryset.order_by().values("id")[: cap + 1].count()
    return min(count, cap), count > cap


def certificate_locations(*, certificate: Certificate) -> list[CertificateLocation]:
    """Where a certificate was found, with the bindings that use it, devices by name."""
    return list(
        CertificateLocation.objects.filter(certificate=certificate)
        .select_related("device")
        .prefetch_related(Prefetch("bindings", queryset=CertificateBinding.objects.order_by("site_name", "key")))
        .order_by("device__name", "kind", "store", "path")
    )


def expiry_by_week(*, weeks: int = 26, kind: str | None = None) -> list[dict[str, Any]]:
    """Inventory certificates expiring per week, from this week on, plus the already expired: one grouped query."""
    now = timezone.now()
    start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(weeks=weeks)
    queryset = certificate_list(kind=kind).filter(status__in=INVENTORY_STATUSES)
    expired = queryset.filter(not_after__lte=now).count()
    counts = {
        row["week"].date() if hasattr(row["week"], "date") else row["week"]: row["n"]
        for row in queryset.filter(not_after__gt=now, not_after__lt=end)
        .annotate(week=TruncWeek("not_after"))
        .values("week")
        .annotate(n=Count("id"))
        .order_by()
    }
    rows: list[dict[str, Any]] = []
    for index in range(weeks):
        week = (start + timedelta(weeks=index)).date()
        rows.append({"week": week, "week_end": week + timedelta(days=7), "count": counts.get(week, 0)})
    return [{"week": None, "count": expired, "expired": True}, *rows]


def saved_filters(*, user: Any, kind: str) -> QuerySet[SavedFilter]:
    return SavedFilter.objects.filter(user=user, kind=kind)
