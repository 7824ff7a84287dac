"""The enrollment rules of the reference (Table 15) and of the group's policy, as pure functions.

Each check returns error messages (empty when fine). `validate_params` runs them all and names each failing field
the way the API does (`params.common_name`, `params.sans.dns`, ...); the UI form maps those names to its fields.
"""

from __future__ import annotations

import calendar
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from certificates.choices import KeyType
from certificates.models import Policy
from enrollment.choices import EC_SIZE_TO_CURVE, GENERATED_EC_SIZES, GENERATED_RSA_SIZES, SanType, ValidityUnit

CN_MAX = 64
# Letters, digits, dots, spaces, underscore and hyphen; a leading "*." for a wildcard (reference: no special
# characters except underscore and hyphen; dots separate the labels of a host name).
_CN = re.compile(r"^(\*\.)?[A-Za-z0-9_.\- ]+$")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_SPECIAL = re.compile(r"[^A-Za-z0-9]")
_email = EmailValidator()
SUBJECT_LIMITS = {"organization": 64, "organizational_unit": 64, "locality": 128, "state": 128, "email": 128}


@dataclass(frozen=True)
class Validity:
    value: int
    unit: str

    def end(self, start: datetime) -> datetime:
        """`start` plus this period, on the calendar (1 month from 31 January is the last day of February)."""
        if self.unit == ValidityUnit.DAYS:
            return start + timedelta(days=self.value)
        months = self.value * (12 if self.unit == ValidityUnit.YEARS else 1)
        month_index = start.month - 1 + months
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)

    def label(self) -> str:
        unit = self.unit if self.value != 1 else self.unit.rstrip("s")
        return f"{self.value} {unit}"


def split_list(value: Any) -> list[str]:
    """A SAN value from the API (a list, or a comma-separated string) as a list of trimmed non-empty strings."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [item.strip() for item in items if item.strip()]


def check_common_name(value: str) -> list[str]:
    if not value:
        return ["Common name is required."]
    if len(value) > CN_MAX:
        return [f"Common name can have at most {CN_MAX} characters (it has {len(value)})."]
    if not _CN.match(value) or value != value.strip():
        return ["Common name may contain letters, digits, dots, spaces, underscores (_) and hyphens (-) only."]
    return []


def _check_dns(name: str) -> str | None:
    labels = name.split(".")
    if name.startswith("*."):
        labels = labels[1:]
    if len(name) > 253 or not labels or not all(_DNS_LABEL.match(label) for label in labels):
        return f"'{name}' is not a valid DNS name."
    return None


def _check_ip(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"'{value}' is not a valid IP address."
    return None


def _check_email(value: str) -> str | None:
    try:
        _email(value)
    except ValidationError:
        return f"'{value}' is not a valid e-mail address."
    return None


def _check_uri(value: str) -> str | None:
    parsed = urlparse(value)
    if not parsed.scheme or not (parsed.netloc or parsed.path) or " " in value:
        return f"'{value}' is not a valid URI (it needs a scheme, e.g. https://)."
    return None


_SAN_CHECKS = {SanType.DNS: _check_dns, SanType.IP: _check_ip, SanType.EMAIL: _check_email, SanType.URI: _check_uri}


def clean_sans(raw: Any) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """SANs by type ({"dns": [...], "ip": [...], "email": [...], "uri": [...]}, each a list or a comma-separated
    string), de-duplicated in order; errors keyed `sans.<type>`."""
    sans: dict[str, list[str]] = {t.value: [] for t in SanType}
    errors: dict[str, list[str]] = {}
    if raw in (None, ""):
        return sans, errors
    if not isinstance(raw, dict):
        return sans, {"sans": ['Give SANs by type, e.g. {"dns": ["www.example.test"], "ip": []}.']}
    unknown = sorted(set(raw) - set(sans))
    if unknown:
        errors["sans"] = [f"Unknown SAN type(s): {', '.join(unknown)}; use dns, ip, email or uri."]
    for san_type, check in _SAN_CHECKS.items():
        values = list(dict.fromkeys(split_list(raw.get(san_type.value))))
        if san_type == SanType.DNS:
            values = list(dict.fromkeys(v.lower() for v in values))
        problems = [p for p in (check(v) for v in values) if p]
        if problems:
            errors[f"sans.{san_type.value}"] = problems
        sans[san_type.value] = values
    return sans, errors


def check_country(value: str) -> list[str]:
    if value and not re.fullmatch(r"[A-Za-z]{2}", value):
        return ["Country must be a 2-letter country code (for example US)."]
    return []


def check_challenge_password(password: str, confirm: str) -> dict[str, list[str]]:
    if not password and not confirm:
        return {}
    errors: dict[str, list[str]] = {}
    missing = []
    if not re.search(r"[A-Z]", password):
        missing.append("an upper-case letter")
    if not re.search(r"[a-z]", password):
        missing.append("a lower-case letter")
    if not re.search(r"[0-9]", password):
        missing.append("a digit")
    if not _SPECIAL.search(password):
        missing.append("a special character")
    if missing:
        errors["challenge_password"] = [f"The challenge password needs {', '.join(missing)}."]
    if password != confirm:
        errors["challenge_password_confirm"] = ["The two passwords do not match."]
    return errors


def check_validity(raw: Any, policy: Policy | None, now: datetime) -> tuple[Validity | None, list[str]]:
    if not isinstance(raw, dict):
        return None, ['Give the validity as {"value": 90, "unit": "days"}.']
    unit = str(raw.get("unit", "")).lower()
    if unit not in ValidityUnit.values:
        return None, ["The validity unit must be days, months or years."]
    try:
        value = int(raw.get("value"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, ["The validity must be a whole number."]
    if value < 1:
        return None, ["The validity must be at least 1."]
    validity = Validity(value=value, unit=unit)
    if policy is not None:
        try:
            end = validity.end(now)
        except (OverflowError, ValueError):
            return None, ["The validity is far too long."]
        if end > now + timedelta(days=policy.max_validity_days):
            return None, [
                f"{validity.label()} is longer than the group's policy allows ({policy.max_validity_days} days)."
            ]
    return validity, []


def key_label(key_type: str, key_size: int) -> str:
    if key_type == KeyType.EC:
        return f"EC {EC_SIZE_TO_CURVE.get(key_size, f'{key_size}-bit')}"
    return f"{key_type.upper()} {key_size}"


def check_crypto(
    *, key_type: str, key_size: int, hash_name: str, policy: Policy | None, generated: bool, issuing: bool = True
) -> dict[str, list[str]]:
    """Key type, size (curve) and hash against the policy; for keys made in the portal, also what it can make; for
    a certificate about to be issued, the hashes CAs sign with."""
    errors: dict[str, list[str]] = {}
    if policy is not None and key_type not in policy.allowed_key_types:
        errors["key_type"] = [f"Key type {key_type.upper()} is not allowed by the group's policy."]
    elif key_type == KeyType.RSA:
        allowed = list(policy.allowed_rsa_sizes) if policy is not None else list(GENERATED_RSA_SIZES)
        if generated:
            allowed = [s for s in allowed if s in GENERATED_RSA_SIZES]
        if key_size not in allowed:
            sizes = ", ".join(str(s) for s in allowed) or "none"
            errors["key_size"] = [f"RSA {key_size} bits is not allowed; allowed: {sizes}."]
    elif key_type == KeyType.EC:
        curve = EC_SIZE_TO_CURVE.get(key_size)
        allowed_curves = list(policy.allowed_ec_curves) if policy is not None else ["P-256", "P-384"]
        if generated:
            allowed_curves = [c for c in allowed_curves if c in {EC_SIZE_TO_CURVE[s] for s in GENERATED_EC_SIZES}]
        if curve not in allowed_curves:
            curves = ", ".join(allowed_curves) or "none"
            errors["key_size"] = [f"EC {curve or f'{key_size}-bit'} is not allowed; allowed curves: {curves}."]
    else:
        errors["key_type"] = [f"Key type {key_type!r} cannot be enrolled; use rsa or ec."]
    if policy is not None and hash_name not in policy.allowed_hashes:
        errors["hash"] = [
            f"Hash {hash_name!r} is not allowed by the group's policy ({', '.join(policy.allowed_hashes)})."
        ]
    elif issuing and hash_name not in ("sha256", "sha384", "sha512"):
        errors["hash"] = [f"Hash {hash_name!r} is not supported; use sha256, sha384 or sha512."]
    return errors
