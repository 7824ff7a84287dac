"""Discovery API: definitions (CRUD + run), runs (read), rules and access control rules (CRUD)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clm.api.errors import ApplicationError
from clm.api.permissions import role_permission
from discovery import services
from discovery.api.serializers import (
    AccessRuleSerializer,
    DiscoveryRunSerializer,
    DiscoverySerializer,
    RuleSerializer,
    RunCreatedSerializer,
)
from discovery.models import AccessControlRule, Discovery, DiscoveryRule, DiscoveryRun

# Administrators run and schedule discovery (DESIGN.md §1); every role may read, auditors included.
AdminWrites = role_permission(write=())


class DiscoveryViewSet(viewsets.ModelViewSet):
    """Discovery definitions (Managed Devices Scan). `POST discoveries/{id}/run/` starts a run."""

    serializer_class = DiscoverySerializer
    permission_classes = [AdminWrites]
    queryset = Discovery.objects.prefetch_related("devices").select_related("periodic_task")
    filterset_fields = ["run_type", "discovery_type"]
    ordering_fields = ["name", "id", "created_at"]

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        assert isinstance(serializer, DiscoverySerializer)
        serializer.instance = services.discovery_save(data=serializer.to_input(), user=self.request.user)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        assert isinstance(serializer, DiscoverySerializer)
        if self.request.method == "PATCH":
            raise ApplicationError("Send the whole discovery with PUT; PATCH is not supported.", status_code=405)
        serializer.instance = services.discovery_save(
            data=serializer.to_input(), user=self.request.user, discovery=self.get_object()
        )

    def perform_destroy(self, instance: Discovery) -> None:
        services.discovery_delete(discovery=instance, user=self.request.user)

    @extend_schema(request=None, responses={202: RunCreatedSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None) -> Response:
        """Start a run now; `GET discovery-runs/{run}/` follows it."""
        run = services.discovery_run_now(discovery=self.get_object(), user=request.user)
        return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)


class DiscoveryRunViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Runs with their per-device state and error; lists leave the device rows out (read one run for them)."""

    serializer_class = DiscoveryRunSerializer
    permission_classes = [AdminWrites]
    filterset_fields = ["discovery", "state", "trigger"]
    ordering_fields = ["created_at", "id"]

    def get_queryset(self) -> QuerySet[DiscoveryRun]:
        return (
            DiscoveryRun.objects.prefetch_related("device_rows")
            if self.action == "retrieve"
            else DiscoveryRun.objects.all()
        )

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "with_devices": self.action == "retrieve"}


class _RuleViewSet(viewsets.ModelViewSet):
    permission_classes = [AdminWrites]
    save_service: Any
    delete_service: Any

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = type(self).save_service(data=dict(serializer.validated_data), user=self.request.user)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = type(self).save_service(
            data=dict(serializer.validated_data), user=self.request.user, rule=serializer.instance
        )

    def perform_destroy(self, instance: Any) -> None:
        type(self).delete_service(rule=instance, user=self.request.user)


class DiscoveryRuleViewSet(_RuleViewSet):
    """Discovery rules: named sets of filters applied to what a discovery finds."""

    serializer_class = RuleSerializer
    queryset = DiscoveryRule.objects.all()
    save_service = staticmethod(services.discovery_rule_save)
    delete_service = staticmethod(services.discovery_rule_delete)


class AccessControlRuleViewSet(_RuleViewSet):
    """Access control rules: certificate attributes -> certificate group, tried by priority."""

    serializer_class = AccessRuleSerializer
    queryset = AccessControlRule.objects.select_related("group")
    save_service = staticmethod(services.access_rule_save)
    delete_service = staticmethod(services.access_rule_delete)
