"""Devices API (API.md "Devices"): devices, validation, profiles, import; gateways. Writes call services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from clm.api.errors import ApplicationError
from clm.api.permissions import role_permission
from devices.api.serializers import (
    BulkValidateSerializer,
    DeviceSerializer,
    DeviceWriteSerializer,
    GatewaySerializer,
    ImportSerializer,
    ProfileSerializer,
    ValidationQueuedSerializer,
    api_errors,
)
from devices.filtersets import DeviceFilterSet
from devices.importing import device_import_csv
from devices.models import Device, Gateway
from devices.selectors import device_list, device_profiles, gateway_list
from devices.services import device_create, device_delete, device_update, gateway_create, gateway_delete, gateway_update
from devices.validation import device_validation_request, device_validation_request_many

# Everyone may read the Server inventory; only administrators onboard, change, validate or delete.
DevicePermission = role_permission(write=())


class DeviceViewSet(viewsets.ModelViewSet):
    """IIS servers: onboard, list, change, delete, validate (a job on the gateway's queue), profiles, CSV import."""

    permission_classes = [DevicePermission]
    filterset_class = DeviceFilterSet
    ordering_fields = ["name", "hostname", "data_center", "status", "validated_at", "created_at", "id"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet[Device]:
        return device_list().select_related("last_validation")

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action in ("create", "update", "partial_update"):
            return DeviceWriteSerializer
        return DeviceSerializer

    def _read(self, device: Device, **extra: Any) -> dict[str, Any]:
        fresh = self.get_queryset().get(pk=device.pk)
        return {**DeviceSerializer(fresh, context=self.get_serializer_context()).data, **extra}

    @extend_schema(request=DeviceWriteSerializer, responses={201: DeviceSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Onboard a device; its validation is queued on its gateway's queue (`job` in the answer)."""
        serializer = DeviceWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            device = device_create(data=serializer.to_input(None), user=request.user)
        except ValidationError as exc:
            raise api_errors(exc) from exc
        job = device.validations.order_by("-id").values_list("job_id", flat=True).first()
        return Response(self._read(device, job=job), status=status.HTTP_201_CREATED)

    @extend_schema(request=DeviceWriteSerializer, responses=DeviceSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change a device (omitted parts and empty secrets keep their values); it is validated again."""
        device = self.get_object()
        serializer = DeviceWriteSerializer(device, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            device = device_update(device=device, data=serializer.to_input(device), user=request.user)
        except ValidationError as exc:
            raise api_errors(exc) from exc
        job = device.validations.order_by("-id").values_list("job_id", flat=True).first()
        return Response(self._read(device, job=job))

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        comment = request.data.get("comment", "") if isinstance(request.data, dict) else ""
        device_delete(device=self.get_object(), user=request.user, comment=str(comment))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: ValidationQueuedSerializer})
    @action(detail=True, methods=["post"])
    def validate(self, request: Request, pk: str | None = None) -> Response:
        """Validate the device now, as a job on its gateway's queue."""
        device = self.get_object()
        with transaction.atomic():
            validation = device_validation_request(device=device, user=request.user)
        return Response({"job": validation.job_id, "validation": validation.pk}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="v1_devices_validate_many",
        request=BulkValidateSerializer,
        responses={202: ValidationQueuedSerializer(many=True)},
    )
    @action(detail=False, methods=["post"], url_path="validate")
    def validate_many(self, request: Request) -> Response:
        """Bulk validate: `{"devices": [ids]}`, one job per device on its own gateway's queue."""
        data = BulkValidateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data["devices"]
        devices = list(self.get_queryset().filter(pk__in=ids))
        missing = sorted(set(ids) - {d.pk for d in devices})
        if missing:
            raise ApplicationError(
                f"Unknown device id(s): {', '.join(map(str, missing))}.", errors={"devices": ["Unknown id(s)."]}
            )
        validations = device_validation_request_many(devices=devices, user=request.user)
        body = [{"device": v.device_id, "job": v.job_id, "validation": v.pk} for v in validations]
        return Response({"jobs": body}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[
            OpenApiParameter("push_type", str, enum=["push_and_bind", "push"], description="push: device-name only"),
            OpenApiParameter("http", bool, description="only http profiles (the HTTP Sites checkbox)"),
        ],
        responses=ProfileSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def profiles(self, request: Request, pk: str | None = None) -> Response:
        """Profiles of the device by the reference's naming convention (from its last configuration fetch)."""
        device = self.get_object()
        push_type = request.query_params.get("push_type", "push_and_bind")
        if push_type not in ("push", "push_and_bind"):
            raise ApplicationError("push_type must be push or push_and_bind.", errors={"push_type": ["Invalid."]})
        http_only = request.query_params.get("http", "").lower() in ("1", "true", "yes")
        profiles = device_profiles(device=device, push_type=push_type, http_only=http_only)
        return Response([p.as_dict() for p in profiles])

    @extend_schema(request={"multipart/form-data": ImportSerializer}, responses={200: dict})
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_csv(self, request: Request) -> Response:
        """Import servers from a CSV file through an external gateway; answers a result per row."""
        data = ImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ref = data.validated_data["gateway"].strip()
        gateway = (
            Gateway.objects.filter(pk=int(ref)).first()
            if ref.isdigit()
            else Gateway.objects.filter(name__iexact=ref).first()
        )
        if gateway is None:
            raise ApplicationError(f"No gateway {ref!r}.", errors={"gateway": ["Unknown gateway."]})
        result = device_import_csv(content=data.validated_data["file"].read(), gateway=gateway, user=request.user)
        return Response(result.as_dict(), status=status.HTTP_200_OK)


class GatewayViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Windows gateways (Settings > Gateways): administrators manage them; auditors read."""

    queryset = Gateway.objects.none()  # for the schema generator only; get_queryset() is what runs
    serializer_class = GatewaySerializer
    permission_classes = [role_permission(write=(), read=())]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self) -> QuerySet[Gateway]:
        return gateway_list()

    @staticmethod
    def _errors(exc: ValidationError) -> ApplicationError:
        raw = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        errors = {("type" if k == "gateway_type" else k): list(v) for k, v in raw.items()}
        summary = "; ".join(f"{k}: {v[0]}" for k, v in list(errors.items())[:5])
        return ApplicationError(f"Invalid input. {summary}", errors=errors)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = GatewaySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            gateway = gateway_create(data=serializer.to_input(None), user=request.user)
        except ValidationError as exc:
            raise self._errors(exc) from exc
        return Response(GatewaySerializer(gateway).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        gateway = self.get_object()
        serializer = GatewaySerializer(gateway, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            gateway = gateway_update(gateway=gateway, data=serializer.to_input(gateway), user=request.user)
        except ValidationError as exc:
            raise self._errors(exc) from exc
        return Response(GatewaySerializer(gateway).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        gateway_delete(gateway=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
