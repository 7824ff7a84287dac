"""FilterSets shared by the UI pages and the API of the core package."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from clm.models import AuditEvent, Job


class AuditEventFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="iexact")
    action = django_filters.CharFilter(field_name="action", lookup_expr="istartswith")
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()
    tracking_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["q", "actor", "action", "object_type", "object_id", "tracking_id", "since", "until"]

    def search(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        return queryset.filter(
            Q(summary__icontains=value)
            | Q(actor_name__icontains=value)
            | Q(action__icontains=value)
            | Q(tracking_id=value)
        )


class JobFilterSet(django_filters.FilterSet):
    class Meta:
        model = Job
        fields = ["kind", "state"]
