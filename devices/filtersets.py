"""FilterSets shared by the Server inventory page and the devices API."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from devices.choices import CertSync, DeviceStatus
from devices.models import Device, Gateway


class DeviceFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=DeviceStatus.choices, empty_label="Any status")
    data_center = django_filters.CharFilter(field_name="data_center", lookup_expr="iexact", label="Data center")
    cert_sync = django_filters.ChoiceFilter(choices=CertSync.choices, empty_label="Any Cert Sync")
    gateway = django_filters.ModelChoiceFilter(queryset=Gateway.objects.all(), empty_label="Any gateway")

    class Meta:
        model = Device
        fields = ["q", "status", "data_center", "cert_sync", "gateway"]

    def search(self, queryset: QuerySet[Device], name: str, value: str) -> QuerySet[Device]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(hostname__icontains=value) | Q(reported_hostname__icontains=value)
        )
