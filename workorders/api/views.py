"""Work orders over the API: read, and the workflow verbs as POST actions (API.md "Work orders")."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clm.api.permissions import role_permission
from clm.choices import Role
from workorders.api.serializers import ImplementSerializer, TransitionSerializer, WorkOrderSerializer
from workorders.choices import Verb
from workorders.filtersets import WorkOrderFilterSet
from workorders.models import WorkOrder
from workorders.services import VERB_SERVICES, workorder_implement

# Any role may call the verbs; each service checks the verb's own role and the separation of duties.
AnyRole = role_permission(write=tuple(Role))


class WorkOrderViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Work orders: every role reads them; submit / approve / reject / cancel / implement / retry move them."""

    serializer_class = WorkOrderSerializer
    permission_classes = [AnyRole]
    filterset_class = WorkOrderFilterSet
    ordering_fields = ["created_at", "id", "state"]

    def get_queryset(self) -> QuerySet[WorkOrder]:
        return WorkOrder.objects.select_related("requester", "target_type").prefetch_related(
            "events", "approvals__approver"
        )

    def _verb(self, request: Request, verb: str) -> Response:
        order = self.get_object()
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        VERB_SERVICES[verb](
            work_order_id=order.pk,
            user=request.user,
            comment=data.validated_data["comment"],
            expected_state=data.validated_data["expected_state"],
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=order.pk)).data)

    @extend_schema(request=TransitionSerializer, responses=WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: Any = None) -> Response:
        """draft → submitted (→ approved when the group's policy needs no approval); the requester only."""
        return self._verb(request, Verb.SUBMIT)

    @extend_schema(request=TransitionSerializer, responses=WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: Any = None) -> Response:
        """Give the next approval (level 1 or 2); not the requester, and not twice by one person."""
        return self._verb(request, Verb.APPROVE)

    @extend_schema(request=TransitionSerializer, responses=WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: Any = None) -> Response:
        """Reject (a comment saying why is required)."""
        return self._verb(request, Verb.REJECT)

    @extend_schema(request=TransitionSerializer, responses=WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: Any = None) -> Response:
        """Cancel before execution (the requester or an administrator)."""
        return self._verb(request, Verb.CANCEL)

    @extend_schema(request=TransitionSerializer, responses=WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: Any = None) -> Response:
        """Run a failed order again."""
        return self._verb(request, Verb.RETRY)

    @extend_schema(request=ImplementSerializer, responses=WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def implement(self, request: Request, pk: Any = None) -> Response:
        """Implement now (`schedule_at` null) or at a date and time."""
        order = self.get_object()
        data = ImplementSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workorder_implement(
            work_order_id=order.pk,
            user=request.user,
            comment=data.validated_data["comment"],
            schedule_at=data.validated_data["schedule_at"],
            expected_state=data.validated_data["expected_state"],
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=order.pk)).data)
