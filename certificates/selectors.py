"""Queries on the inventory used by more than one caller."""

from __future__ import annotations

from certificates.models import CertificateGroup


def group_default() -> CertificateGroup:
    """The default certificate group (created by a migration; re-created if someone removed it)."""
    group = CertificateGroup.objects.filter(is_default=True).select_related("policy").first()
    if group is None:
        group, _ = CertificateGroup.objects.get_or_create(name="Default", defaults={"is_default": True})
    return group


def group_or_default(group_id: int | None) -> CertificateGroup:
    """The group with this id, or the default group for None (API.md: null means the default group)."""
    if group_id is None:
        return group_default()
    return CertificateGroup.objects.select_related("policy").get(pk=group_id)
