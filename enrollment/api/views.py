"""Enrollment over the API (API.md "Enrollment"): enrollments, CA accounts, CSR pre-fill, certificate downloads
and revocation requests."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from certificates.exports import Export, certificate_export_der, certificate_export_pem, certificate_export_pfx
from certificates.models import Certificate
from clm.api.permissions import role_permission
from clm.choices import Role
from enrollment.api.serializers import (
    CAAccountSerializer,
    CsrPrefillSerializer,
    DownloadSerializer,
    EnrollmentCreateSerializer,
    EnrollmentSerializer,
    RevokeSerializer,
)
from enrollment.models import CAAccount, Enrollment
from enrollment.services import csr_prefill, enrollment_create, revocation_request
from workorders.api.serializers import WorkOrderSerializer

RequesterWrites = role_permission(write=(Role.REQUESTER,))
AnyRoleWrites = role_permission(write=tuple(Role))


def _file(export: Export) -> HttpResponse:
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response


class EnrollmentViewSet(
    mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    """Enrollments: requesters create them (each with a draft enroll work order); every role reads them."""

    permission_classes = [RequesterWrites]
    ordering_fields = ["created_at", "id"]
    filterset_fields = ["group", "ca_account", "certificate", "tracking_id", "csr_source"]

    def get_queryset(self) -> QuerySet[Enrollment]:
        return Enrollment.objects.select_related("requester", "certificate").prefetch_related("attachments")

    def get_serializer_class(self) -> Any:
        return EnrollmentCreateSerializer if self.action == "create" else EnrollmentSerializer

    @extend_schema(request=EnrollmentCreateSerializer, responses={201: EnrollmentSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = EnrollmentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enrollment = enrollment_create(user=request.user, data=data.to_input())
        return Response(EnrollmentSerializer(enrollment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CsrPrefillSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"], url_path="csr-prefill")
    def csr_prefill(self, request: Request) -> Response:
        """Read a CSR (signature checked) into the CSR parameters an enrollment would use."""
        data = CsrPrefillSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"params": csr_prefill(csr=data.validated_data["csr"])})

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path=r"attachments/(?P<attachment_id>\d+)")
    def attachment(self, request: Request, pk: Any = None, attachment_id: str = "") -> HttpResponse:
        """Download one attachment of the enrollment."""
        enrollment = self.get_object()
        attachment = get_object_or_404(enrollment.attachments.all(), pk=int(attachment_id))
        return _file(Export(attachment.filename, attachment.content_type, bytes(attachment.content)))


class CAAccountViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Configured CA accounts (the built-in CA's exists after set-up), with their templates."""

    queryset = CAAccount.objects.all()
    serializer_class = CAAccountSerializer
    permission_classes = [role_permission(write=())]


class CertificateDownloadApi(APIView):
    """A certificate as PEM, PEM with its chain, DER (GET `?type=`), or PFX with its private key (POST with a
    password; writes an audit event)."""

    permission_classes = [AnyRoleWrites]

    @extend_schema(
        parameters=[OpenApiParameter("type", str, enum=["pem", "chain", "der"])],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        certificate = get_object_or_404(Certificate, pk=pk)
        data = DownloadSerializer(data={"type": request.query_params.get("type", "pem")})
        data.is_valid(raise_exception=True)
        fmt = data.validated_data["type"]
        if fmt == "pfx":
            return Response(
                {"detail": "A PFX is downloaded with POST and a password.", "errors": {"type": ["Use POST."]}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if fmt == "der":
            return _file(certificate_export_der(certificate=certificate))
        return _file(certificate_export_pem(certificate=certificate, with_chain=fmt == "chain"))

    @extend_schema(request=DownloadSerializer, responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def post(self, request: Request, pk: int) -> HttpResponse:
        certificate = get_object_or_404(Certificate, pk=pk)
        data = DownloadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fmt = data.validated_data["type"]
        if fmt != "pfx":
            export = certificate_export_der(certificate=certificate) if fmt == "der" else None
            return _file(export or certificate_export_pem(certificate=certificate, with_chain=fmt == "chain"))
        export = certificate_export_pfx(
            certificate=certificate, password=data.validated_data["password"], user=request.user
        )
        return _file(export)


class CertificateRevokeApi(APIView):
    """Ask for a revocation: creates a revoke work order and submits it for approval."""

    permission_classes = [RequesterWrites]

    @extend_schema(request=RevokeSerializer, responses={201: WorkOrderSerializer})
    def post(self, request: Request, pk: int) -> Response:
        data = RevokeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = revocation_request(
            user=request.user,
            certificate_id=pk,
            reason=data.validated_data["reason"],
            comment=data.validated_data["comment"],
        )
        body = WorkOrderSerializer(order, context={"request": request}).data
        return Response({**body, "work_order": order.pk}, status=status.HTTP_201_CREATED)
