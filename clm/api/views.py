"""Core API: tokens, jobs, the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clm.api.permissions import AdministratorOrAuditorReadOnly, IsAdministrator
from clm.api.serializers import (
    AuditEventSerializer,
    JobCreatedSerializer,
    JobSerializer,
    SelftestRequestSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from clm.audit import audit_record
from clm.filtersets import AuditEventFilterSet, JobFilterSet
from clm.jobs import job_enqueue
from clm.models import AuditEvent, Job
from clm.roles import has_role


class TokenApi(APIView):
    """Exchange a user name and password for an API token."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    def get_authenticate_header(self, request: Request) -> str:
        # A wrong password answers 401 with a challenge, as the other endpoints do.
        return "Token"

    @extend_schema(request=TokenRequestSerializer, responses=TokenSerializer)
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, **data.validated_data)
        if user is None or not user.is_active:
            raise AuthenticationFailed("User name or password is wrong.")
        token, _ = Token.objects.get_or_create(user=user)
        audit_record(actor=user, action="auth.token", summary=f"{user.get_username()} obtained an API token", obj=user)
        return Response({"token": token.key})


class JobViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Jobs: everyone sees their own; administrators and auditors see all."""

    queryset = Job.objects.none()  # for the schema generator only; get_queryset() is what runs
    serializer_class = JobSerializer
    filterset_class = JobFilterSet
    ordering_fields = ["created_at", "id"]

    def get_queryset(self) -> QuerySet[Job]:
        queryset = Job.objects.select_related("created_by")
        if has_role(self.request.user, "auditor"):
            return queryset
        return queryset.filter(created_by_id=self.request.user.pk)

    @extend_schema(request=SelftestRequestSerializer, responses={202: JobCreatedSerializer})
    @action(detail=False, methods=["post"], permission_classes=[IsAdministrator])
    def selftest(self, request: Request) -> Response:
        """Queue a short diagnostic job that proves the workers run jobs and report progress."""
        data = SelftestRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = job_enqueue(kind="selftest", params=data.validated_data, user=request.user)
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)


class AuditEventViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit trail, read-only, for administrators and auditors."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    permission_classes = [AdministratorOrAuditorReadOnly]
    filterset_class = AuditEventFilterSet
    ordering_fields = ["at", "id"]
