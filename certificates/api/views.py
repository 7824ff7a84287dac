"""Inventory API: certificates (filters, ordering, keyset pagination), groups and policies (CRUD)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from django.http import HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from certificates import services
from certificates.api.serializers import (
    CertificateBulkMoveSerializer,
    CertificateMoveSerializer,
    CertificateSerializer,
    GroupSerializer,
    InventoryPageSerializer,
    MovedSerializer,
    PolicySerializer,
)
from certificates.filtersets import CertificateFilterSet
from certificates.hooks import connector_summaries
from certificates.keyset import CursorError
from certificates.models import Certificate, CertificateGroup, Policy
from certificates.selectors import (
    ORDERINGS,
    certificate_list,
    certificate_locations_prefetch,
    certificate_page,
    group_default,
    parse_ordering,
)
from clm.api.errors import ApplicationError
from clm.api.permissions import role_permission
from clm.choices import Role

InventoryPermission = role_permission(write=(), read=tuple(Role))
MAX_PAGE_SIZE = 500
ORDERING_NAMES = sorted([*ORDERINGS, *(f"-{name}" for name in ORDERINGS)])


def page_size_from(request: Request, default: int = 50) -> int:
    raw = request.query_params.get("page_size")
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ApplicationError(
            "Invalid page size.", errors={"page_size": [f"Use a whole number from 1 to {MAX_PAGE_SIZE}."]}
        )
    return size


class CertificateViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The certificate inventory. Lists are keyset-paginated (`next`/`previous` carry a cursor): constant time per
    page at any depth. Certificates a discovery did not move into the inventory appear only with `status=discovered`."""

    serializer_class = CertificateSerializer
    permission_classes = [InventoryPermission]
    filter_backends = [DjangoFilterBackend]  # ordering is the keyset pagination's, not OrderingFilter's
    filterset_class = CertificateFilterSet

    def get_queryset(self) -> QuerySet[Certificate]:
        queryset = certificate_list(kind=self.request.query_params.get("kind") or None)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(certificate_locations_prefetch())
        return queryset

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "default_group": group_default()}

    def filter_queryset(self, queryset: QuerySet[Any, Any]) -> QuerySet[Any, Any]:
        # The list's filters (and its "inventory only" default) do not hide a certificate asked for by id.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        certificate = self.get_object()
        context = {**self.get_serializer_context(), "connectors": connector_summaries([certificate.pk])}
        return Response(CertificateSerializer(certificate, context=context).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=["server", "client"], description="Inventory page"),
            OpenApiParameter("ordering", OpenApiTypes.STR, enum=ORDERING_NAMES, description="Default -id"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From a previous page's next/previous URL"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description=f"1-{MAX_PAGE_SIZE}, default 50"),
        ],
        responses=InventoryPageSerializer,
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        try:
            parse_ordering(request.query_params.get("ordering"))
        except KeyError:
            raise ApplicationError(
                "Invalid ordering.", errors={"ordering": [f"Choose one of: {', '.join(ORDERING_NAMES)}."]}
            ) from None
        size = page_size_from(request)
        try:
            page = certificate_page(
                queryset,
                ordering=request.query_params.get("ordering"),
                cursor=request.query_params.get("cursor") or None,
                page_size=size,
            )
        except CursorError:
            raise ApplicationError("Invalid cursor.", errors={"cursor": ["This cursor is not valid."]}) from None
        context = {
            **self.get_serializer_context(),
            "connectors": connector_summaries([c.pk for c in page.items]),
        }
        url = request.build_absolute_uri()
        return Response(
            {
                "results": CertificateSerializer(page.items, many=True, context=context).data,
                "next": replace_query_param(url, "cursor", page.next_cursor) if page.next_cursor else None,
                "previous": (
                    replace_query_param(url, "cursor", page.previous_cursor)
                    if page.previous_cursor
                    else (remove_query_param(url, "cursor") if request.query_params.get("cursor") else None)
                ),
            }
        )

    @extend_schema(responses={(200, "application/x-pem-file"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"])
    def chain(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The certificate and its issuers (PEM), leaf first."""
        from certificates.x509 import der_to_pem

        certificate = self.get_object()
        pem = der_to_pem(bytes(certificate.der)) + (certificate.chain_pem or "")
        response = HttpResponse(pem, content_type="application/x-pem-file")
        response["Content-Disposition"] = f'attachment; filename="{certificate.thumbprint}.pem"'
        return response

    @extend_schema(request=CertificateMoveSerializer, responses=MovedSerializer)
    @action(detail=True, methods=["post"], permission_classes=[role_permission(write=())])
    def move(self, request: Request, pk: str | None = None) -> Response:
        """Move into the inventory (a certificate left out by "Do not move") or re-file: status and group."""
        certificate = self.get_object()
        data = CertificateMoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        moved = services.certificate_move(certificates=[certificate], user=request.user, **data.validated_data)
        return Response({"moved": moved})

    @extend_schema(
        request=CertificateBulkMoveSerializer, responses=MovedSerializer, operation_id="certificates_move_many"
    )
    @action(detail=False, methods=["post"], url_path="move", permission_classes=[role_permission(write=())])
    def move_many(self, request: Request) -> Response:
        """The same for many certificates at once (`ids`)."""
        data = CertificateBulkMoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data.pop("ids")
        found = list(Certificate.objects.filter(pk__in=ids).only("id"))
        missing = sorted(set(ids) - {c.pk for c in found})
        if missing:
            raise ApplicationError("Unknown certificates.", errors={"ids": [f"No certificate with id {missing[0]}."]})
        moved = services.certificate_move(certificates=found, user=request.user, **data.validated_data)
        return Response({"moved": moved})


def _errors_to_validation(exc: ApplicationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.errors or {"non_field_errors": [exc.message]})


class GroupViewSet(viewsets.ModelViewSet):
    """Certificate groups. The default group always exists and cannot be deleted; deleting another group moves its
    certificates to the default group."""

    serializer_class = GroupSerializer
    permission_classes = [role_permission(write=())]
    queryset = CertificateGroup.objects.select_related("policy")
    ordering_fields = ["name", "id"]
    filterset_fields = ["is_default", "policy"]

    def get_serializer_context(self) -> dict[str, Any]:
        counts = dict(
            Certificate.objects.exclude(group__isnull=True)
            .values_list("group_id")
            .annotate(n=Count("id"))
            .values_list("group_id", "n")
        )
        return {**super().get_serializer_context(), "group_counts": counts}

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        try:
            serializer.instance = services.group_save(data=dict(serializer.validated_data), user=self.request.user)
        except ApplicationError as exc:
            raise _errors_to_validation(exc) from None

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        try:
            serializer.instance = services.group_save(
                data=dict(serializer.validated_data), user=self.request.user, group=serializer.instance
            )
        except ApplicationError as exc:
            raise _errors_to_validation(exc) from None

    def perform_destroy(self, instance: CertificateGroup) -> None:
        services.group_delete(group=instance, user=self.request.user)


class PolicyViewSet(viewsets.ModelViewSet):
    """Policies: allowed key types and sizes, hash functions, maximum validity, CSR defaults, approval levels."""

    serializer_class = PolicySerializer
    permission_classes = [role_permission(write=())]
    queryset = Policy.objects.prefetch_related("groups")
    ordering_fields = ["name", "id"]

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = services.policy_save(data=dict(serializer.validated_data), user=self.request.user)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = services.policy_save(
            data=dict(serializer.validated_data), user=self.request.user, policy=serializer.instance
        )

    def perform_destroy(self, instance: Policy) -> None:
        services.policy_delete(policy=instance, user=self.request.user)
