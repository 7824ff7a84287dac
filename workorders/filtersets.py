"""FilterSets shared by the work-order list page and the API."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from workorders.choices import WorkOrderAction, WorkOrderState
from workorders.models import WorkOrder


class WorkOrderFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    state = django_filters.ChoiceFilter(choices=WorkOrderState.choices)
    action = django_filters.ChoiceFilter(choices=WorkOrderAction.choices)
    certificate = django_filters.NumberFilter()
    tracking_id = django_filters.CharFilter()
    requester = django_filters.CharFilter(field_name="requester__username", lookup_expr="iexact")

    class Meta:
        model = WorkOrder
        fields = ["q", "state", "action", "certificate", "tracking_id", "requester"]

    def search(self, queryset: QuerySet[WorkOrder], name: str, value: str) -> QuerySet[WorkOrder]:
        value = value.strip()
        return queryset.filter(
            Q(work_order_id__iexact=value)
            | Q(request_id__iexact=value)
            | Q(summary__icontains=value)
            | Q(tracking_id=value)
        )
