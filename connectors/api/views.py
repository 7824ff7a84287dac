"""Connector API (API.md "Application connectors and push", "Reports and settings")."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from certificates.models import Certificate
from clm.api.errors import ApplicationError
from clm.api.permissions import role_permission
from clm.choices import Role
from connectors.api.serializers import (
    CommentSerializer,
    ConnectorSerializer,
    ConnectorWriteSerializer,
    GeneralSettingsSerializer,
    PushDeviceSerializer,
)
from connectors.models import AppConnector, PushDevice
from connectors.services import (
    connector_create,
    connector_delete,
    connector_update,
    push_request,
    rollback_request,
)
from connectors.settings_services import general_settings_get, general_settings_update
from connectors.validation import check_json, endpoint_json, report_data

RequesterWrites = role_permission(write=(Role.REQUESTER,))


class GeneralSettingsApi(APIView):
    """General Settings: everyone signed in reads them; administrators change them."""

    permission_classes = [role_permission(write=())]

    @extend_schema(responses=GeneralSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(GeneralSettingsSerializer(general_settings_get()).data)

    @extend_schema(request=GeneralSettingsSerializer, responses=GeneralSettingsSerializer)
    def put(self, request: Request) -> Response:
        current = general_settings_get()
        data = GeneralSettingsSerializer(current, data=request.data, partial=request.method == "PATCH")
        data.is_valid(raise_exception=True)
        updated = general_settings_update(actor=request.user, **data.validated_data)
        return Response(GeneralSettingsSerializer(updated).data)

    patch = put


def _certificate(pk: Any) -> Certificate:
    certificate = Certificate.objects.filter(pk=pk).first()
    if certificate is None:
        raise ApplicationError("No such certificate.", errors={"certificate": ["No such certificate."]})
    return certificate


def _orders_response(orders: list[Any]) -> Response:
    body = {"work_order": orders[0].pk, "work_orders": [o.pk for o in orders], "request_id": orders[0].request_id}
    return Response(body, status=status.HTTP_201_CREATED)


class ConnectorViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Application connectors: requesters add, change, push and roll back; every role reads them."""

    permission_classes = [RequesterWrites]
    serializer_class = ConnectorSerializer
    filterset_fields = ["certificate", "sync_status", "push_type", "source"]
    ordering_fields = ["id", "name", "created_at"]

    def get_queryset(self) -> QuerySet[AppConnector]:
        queryset = AppConnector.objects.prefetch_related("targets__device").order_by("id")
        device = self.request.query_params.get("device")
        if device and device.isdigit():
            queryset = queryset.filter(targets__device_id=int(device)).distinct()
        return queryset

    @extend_schema(request=ConnectorWriteSerializer, responses={201: ConnectorSerializer})
    def create(self, request: Request) -> Response:
        data = ConnectorWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connector = connector_create(
            certificate=_certificate(data.validated_data["certificate"]), data=data.to_input(), user=request.user
        )
        return Response(ConnectorSerializer(connector).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConnectorWriteSerializer, responses=ConnectorSerializer)
    def update(self, request: Request, pk: Any = None) -> Response:
        connector = self.get_object()
        if not isinstance(request.data, dict):
            raise ApplicationError("Send the connector as a JSON object.")
        body = {"certificate": connector.certificate_id, **request.data}
        data = ConnectorWriteSerializer(data=body)
        data.is_valid(raise_exception=True)
        if data.validated_data["certificate"] != connector.certificate_id:
            raise ApplicationError(
                "A connector stays with its certificate.", errors={"certificate": ["Cannot be changed."]}
            )
        connector = connector_update(connector=connector, data=data.to_input(), user=request.user)
        return Response(ConnectorSerializer(connector).data)

    def perform_destroy(self, instance: AppConnector) -> None:
        connector_delete(connector=instance, user=self.request.user)

    @extend_schema(request=CommentSerializer, responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def push(self, request: Request, pk: Any = None) -> Response:
        """Ask for a push: a work order (per gateway) whose preview runs first, then the approvals."""
        data = CommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        orders = push_request(connector=self.get_object(), user=request.user, comment=data.validated_data["comment"])
        return _orders_response(orders)

    @extend_schema(request=CommentSerializer, responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk: Any = None) -> Response:
        """Ask to undo the last push: a rollback work order, submitted for approval."""
        data = CommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        orders = rollback_request(
            connector=self.get_object(), user=request.user, comment=data.validated_data["comment"]
        )
        return _orders_response(orders)

    @extend_schema(responses=PushDeviceSerializer(many=True))
    @action(detail=True, methods=["get"])
    def pushes(self, request: Request, pk: Any = None) -> Response:
        """Each device's part of this connector's pushes and rollbacks (preview, step, TLS evidence), newest first."""
        rows = PushDevice.objects.filter(connector=self.get_object()).select_related("device").order_by("-id")[:100]
        return Response(PushDeviceSerializer(rows, many=True).data)


class WorkOrderPushApi(APIView):
    """The preview and per-device outcome of one push or rollback work order."""

    permission_classes = [role_permission(write=())]

    @extend_schema(responses=PushDeviceSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        rows = PushDevice.objects.filter(work_order_id=pk).select_related("device").order_by("device__name")
        if not rows:
            get_object_or_404(PushDevice, work_order_id=pk)
        return Response(PushDeviceSerializer(rows, many=True).data)


class PushValidationReportApi(APIView):
    """The Push Validation Report: checks in the period (succeeded vs failed, over time), push operations, and the
    watched endpoints (failing ones first)."""

    permission_classes = [role_permission(write=())]

    @extend_schema(parameters=[OpenApiParameter("days", int, default=7)], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        days_text = request.query_params.get("days", "7")
        if not days_text.isdigit() or not 1 <= int(days_text) <= 90:
            raise ApplicationError("days must be 1 to 90.", errors={"days": ["A number of days from 1 to 90."]})
        data = report_data(days=int(days_text))
        from connectors.models import ConnectorEndpoint

        endpoints = ConnectorEndpoint.objects.filter(active=True).order_by("last_ok", "-last_checked_at", "pk")[:1000]
        return Response(
            {
                "days": data["days"],
                "total": data["total"],
                "succeeded": data["succeeded"],
                "failed": data["failed"],
                "over_time": [
                    {"period": row["period"].isoformat(), "succeeded": row["succeeded"], "failed": row["failed"]}
                    for row in data["series"]
                ],
                "pushes": data["pushes"],
                "current": data["current"],
                "endpoints": [endpoint_json(e) for e in endpoints],
                "recent_failures": [check_json(c) for c in data["recent_failures"]],
            }
        )


class PushValidationRunApi(APIView):
    """Administrators: run push validation now (one sweep per gateway, queued)."""

    permission_classes = [role_permission(write=())]

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        from connectors.tasks import push_validation_task

        push_validation_task.delay()
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)
