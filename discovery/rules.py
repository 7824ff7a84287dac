"""Matching found certificates against discovery rules and access control rules.

A rule is a set of filters (issuer, subject/SAN pattern, key type and size, expires within N days, store or path);
every filter that is set must match. Rules are copied into a run's options as plain dicts (`rule_snapshot`) so that
a run keeps the rule it started with.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from certificates.bulk import FoundLocation
from certificates.choices import LocationKind
from certificates.x509 import ParsedCertificate

FILTER_FIELDS = (
    "issuer_contains",
    "subject_pattern",
    "key_types",
    "min_key_size",
    "max_key_size",
    "expires_within_days",
    "location_pattern",
)


@dataclass(frozen=True)
class RuleFilter:
    issuer_contains: str = ""
    subject_pattern: str = ""
    key_types: tuple[str, ...] = ()
    min_key_size: int | None = None
    max_key_size: int | None = None
    expires_within_days: int | None = None
    location_pattern: str = ""

    @classmethod
    def of(cls, data: Any) -> RuleFilter:
        """From a rule model or a snapshot dict."""
        get = data.get if isinstance(data, dict) else lambda name, default=None: getattr(data, name, default)
        return cls(
            issuer_contains=str(get("issuer_contains", "") or "").strip(),
            subject_pattern=str(get("subject_pattern", "") or "").strip(),
            key_types=tuple(str(t) for t in (get("key_types", ()) or ())),
            min_key_size=get("min_key_size", None),
            max_key_size=get("max_key_size", None),
            expires_within_days=get("expires_within_days", None),
            location_pattern=str(get("location_pattern", "") or "").strip(),
        )

    @property
    def has_certificate_filters(self) -> bool:
        return bool(
            self.issuer_contains
            or self.subject_pattern
            or self.key_types
            or self.min_key_size
            or self.max_key_size
            or self.expires_within_days is not None
        )

    def matches_location(self, location: FoundLocation) -> bool:
        if not self.location_pattern:
            return True
        pattern = self.location_pattern.lower().replace("/", "\\")
        if location.kind == LocationKind.STORE:
            names = {location.store.lower(), f"cert:\\localmachine\\{location.store.lower()}"}
            return any(fnmatch.fnmatchcase(name, pattern) for name in names)
        return fnmatch.fnmatchcase(location.path.lower().replace("/", "\\"), pattern)

    def matches_certificate(self, parsed: ParsedCertificate, now: datetime) -> bool:
        if self.issuer_contains and self.issuer_contains.lower() not in parsed.issuer.lower():
            return False
        if self.subject_pattern:
            pattern = self.subject_pattern.lower()
            names = [parsed.common_name, *parsed.sans.get("dns", []), *parsed.sans.get("ip", [])]
            if not any(fnmatch.fnmatchcase(n.lower(), pattern) for n in names if n):
                return False
        if self.key_types and parsed.key_type not in self.key_types:
            return False
        if self.min_key_size and parsed.key_size < self.min_key_size:
            return False
        if self.max_key_size and parsed.key_size > self.max_key_size:
            return False
        return not (
            self.expires_within_days is not None and parsed.not_after > now + timedelta(days=self.expires_within_days)
        )

    def matches(self, parsed: ParsedCertificate | None, location: FoundLocation, now: datetime) -> bool:
        """A locked or unreadable file has no certificate to look at: only the location filter applies to it."""
        if not self.matches_location(location):
            return False
        if parsed is None:
            return True
        return self.matches_certificate(parsed, now)


def rule_snapshot(rule: Any) -> dict[str, Any] | None:
    """A rule's filters as a plain dict (None for no rule)."""
    if rule is None:
        return None
    data = {name: getattr(rule, name) for name in FILTER_FIELDS}
    data["key_types"] = list(data["key_types"] or [])
    data["id"] = rule.pk
    data["name"] = rule.name
    return data


@dataclass(frozen=True)
class AccessRule:
    group_id: int
    filter: RuleFilter


def access_rules_load() -> list[AccessRule]:
    """The enabled access control rules in the order they are tried."""
    from discovery.models import AccessControlRule

    return [
        AccessRule(group_id=rule.group_id, filter=RuleFilter.of(rule))
        for rule in AccessControlRule.objects.filter(enabled=True).order_by("priority", "name")
    ]


def access_rule_group(
    rules: list[AccessRule], parsed: ParsedCertificate, locations: list[FoundLocation], now: datetime
) -> int | None:
    """The group of the first rule that matches the certificate at one of its locations, or None."""
    for rule in rules:
        if any(rule.filter.matches(parsed, location, now) for location in locations):
            return rule.group_id
    return None
