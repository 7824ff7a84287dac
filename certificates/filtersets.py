"""FilterSets of the inventory, shared by the Server/Client pages, their CSV export and the API (API.md "Inventory").

Every filter is written to use an index at a million rows: exact columns, the (column, id) indexes, the trigram
index on PostgreSQL for free text and common name, and EXISTS on the location index for `device`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from certificates.choices import INVENTORY_STATUSES, CertificateStatus, KeyType
from certificates.models import Certificate, CertificateGroup, CertificateLocation

HEX = re.compile(r"^[0-9a-fA-F:\s]+$")
EXPIRY_WINDOWS = (("expired", "Expired"), ("30", "Within 30 days"), ("90", "Within 90 days"), ("365", "Within a year"))


def normalize_hex(value: str) -> str:
    """A thumbprint as people paste it ("ab cd ...", "AB:CD:...") -> upper-case hex without separators."""
    return re.sub(r"[\s:]", "", value).upper()


class DateOrDateTimeField(forms.DateTimeField):
    """Accepts an ISO date-time or a plain date (which means midnight UTC at the start of that day)."""

    input_formats = ["%Y-%m-%d", "iso-8601"]

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            parsed = datetime.strptime(value.strip(), "%Y-%m-%d").date()
            return datetime.combine(parsed, time.min, tzinfo=UTC)
        result = super().to_python(value)
        return result


class DateOrDateTimeFilter(django_filters.Filter):
    field_class = DateOrDateTimeField


class AttributeField(forms.CharField):
    """A certificate attribute as "key=value" (that value) or "key" (any value) -> (key, value or None)."""

    def to_python(self, value: Any) -> tuple[str, str | None] | None:  # type: ignore[override]
        text = (super().to_python(value) or "").strip()
        if not text:
            return None
        key, sep, wanted = text.partition("=")
        if not key.strip():
            raise forms.ValidationError("Write the attribute as key=value, or key alone for any value.")
        return key.strip(), (wanted.strip() if sep else None)


class AttributeFilter(django_filters.Filter):
    field_class = AttributeField


class CertificateFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search")
    common_name = django_filters.CharFilter(method="filter_common_name", label="Common name")
    thumbprint = django_filters.CharFilter(method="filter_thumbprint", label="Thumbprint")
    sha256 = django_filters.CharFilter(method="filter_sha256", label="SHA-256")
    serial = django_filters.CharFilter(method="filter_serial", label="Serial number")
    # distinct=False: a status filter needs no DISTINCT (which would make PostgreSQL sort every matching row).
    status = django_filters.MultipleChoiceFilter(choices=CertificateStatus.choices, label="Status", distinct=False)
    group = django_filters.ModelChoiceFilter(
        queryset=CertificateGroup.objects.all(), method="filter_group", label="Group"
    )
    device = django_filters.NumberFilter(method="filter_device", label="Device")
    expires_before = DateOrDateTimeFilter(field_name="not_after", lookup_expr="lt", label="Expires before")
    expires_after = DateOrDateTimeFilter(field_name="not_after", lookup_expr="gte", label="Expires after")
    expires = django_filters.ChoiceFilter(choices=EXPIRY_WINDOWS, method="filter_expires", label="Expiry")
    in_use = django_filters.BooleanFilter(method="filter_in_use", label="In use")
    key_type = django_filters.ChoiceFilter(choices=KeyType.choices, label="Key type")
    key_size = django_filters.NumberFilter(label="Key size")
    issuer = django_filters.CharFilter(field_name="issuer_common_name", lookup_expr="icontains", label="Issuer")
    has_private_key = django_filters.BooleanFilter(field_name="private_key", lookup_expr="isnull", exclude=True)
    attribute = AttributeFilter(method="filter_attribute", label="Attribute")

    class Meta:
        model = Certificate
        fields = [
            "q",
            "common_name",
            "thumbprint",
            "sha256",
            "serial",
            "status",
            "group",
            "device",
            "expires_before",
            "expires_after",
            "expires",
            "in_use",
            "key_type",
            "key_size",
            "issuer",
            "has_private_key",
            "attribute",
        ]

    def filter_queryset(self, queryset: QuerySet[Certificate]) -> QuerySet[Certificate]:
        """Certificates a discovery did not move into the inventory are listed only when asked for by status."""
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(status__in=INVENTORY_STATUSES)
        return queryset

    def filter_q(self, queryset: QuerySet[Certificate], name: str, value: str) -> QuerySet[Certificate]:
        value = value.strip()
        if not value:
            return queryset
        compact = normalize_hex(value)
        if HEX.match(value) and len(compact) == 40:
            return queryset.filter(thumbprint=compact)
        if HEX.match(value) and len(compact) == 64:
            return queryset.filter(sha256=compact.lower())
        return queryset.filter(search_text__contains=value.lower())

    def filter_common_name(self, queryset: QuerySet[Certificate], name: str, value: str) -> QuerySet[Certificate]:
        value = value.strip()
        if not value:
            return queryset
        # search_text holds the lower-case CN: its trigram index finds the candidates (the only trigram index, so
        # that discovery's inserts pay for one), the CN condition keeps those whose CN really matches.
        return queryset.filter(search_text__contains=value.lower(), common_name__icontains=value)

    def filter_thumbprint(self, queryset: QuerySet[Certificate], name: str, value: str) -> QuerySet[Certificate]:
        return queryset.filter(thumbprint=normalize_hex(value))

    def filter_sha256(self, queryset: QuerySet[Certificate], name: str, value: str) -> QuerySet[Certificate]:
        return queryset.filter(sha256=normalize_hex(value).lower())

    def filter_serial(self, queryset: QuerySet[Certificate], name: str, value: str) -> QuerySet[Certificate]:
        return queryset.filter(serial=normalize_hex(value).lstrip("0") or "0")

    def filter_group(
        self, queryset: QuerySet[Certificate], name: str, value: CertificateGroup | None
    ) -> QuerySet[Certificate]:
        if value is None:
            return queryset
        if value.is_default:
            # Certificates without a group belong to the default group.
            return queryset.filter(Q(group=value) | Q(group__isnull=True))
        return queryset.filter(group=value)

    def filter_device(self, queryset: QuerySet[Certificate], name: str, value: Any) -> QuerySet[Certificate]:
        if value is None:
            return queryset
        at_device = CertificateLocation.objects.filter(certificate=OuterRef("pk"), device_id=int(value))
        return queryset.filter(Exists(at_device))

    def filter_expires(self, queryset: QuerySet[Certificate], name: str, value: str) -> QuerySet[Certificate]:
        now = timezone.now()
        if value == "expired":
            return queryset.filter(not_after__lte=now)
        return queryset.filter(not_after__gt=now, not_after__lte=now + timedelta(days=int(value)))

    def filter_in_use(self, queryset: QuerySet[Certificate], name: str, value: bool | None) -> QuerySet[Certificate]:
        if value is None:
            return queryset
        return queryset.filter(binding_count__gt=0) if value else queryset.filter(binding_count=0)

    def filter_attribute(
        self, queryset: QuerySet[Certificate], name: str, value: tuple[str, str | None] | None
    ) -> QuerySet[Certificate]:
        if value is None:
            return queryset
        key, wanted = value
        # Most certificates (everything discovered) have no attributes: the partial index holds only those that do,
        # and `exclude(attributes={})` is what lets PostgreSQL pick it.
        queryset = queryset.exclude(attributes={})
        if wanted is None:
            return queryset.filter(attributes__has_key=key)
        return queryset.filter(attributes__contains={key: wanted})
