"""Credential list and password vaults API: administrators manage them; auditors read (never a secret)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from clm.api.errors import ApplicationError
from clm.api.permissions import role_permission
from vaults.api.serializers import CredentialSerializer, PasswordVaultSerializer
from vaults.models import Credential, PasswordVault
from vaults.selectors import credential_list, password_vault_list
from vaults.services import (
    credential_create,
    credential_delete,
    credential_update,
    password_vault_create,
    password_vault_delete,
    password_vault_update,
)

AdminWriteAuditorRead = role_permission(write=(), read=())


def _invalid(exc: ValidationError) -> ApplicationError:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    summary = "; ".join(f"{k}: {v[0]}" for k, v in list(errors.items())[:5])
    return ApplicationError(f"Invalid input. {summary}", errors={k: list(v) for k, v in errors.items()})


class CredentialViewSet(viewsets.ModelViewSet):
    """The credential list (Settings > Credential List)."""

    serializer_class = CredentialSerializer
    permission_classes = [AdminWriteAuditorRead]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self) -> QuerySet[Credential]:
        return credential_list()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            credential = credential_create(
                name=values.get("name", ""),
                username=values.get("username", ""),
                password=values.get("password", ""),
                description=values.get("description", ""),
                user=request.user,
            )
        except ValidationError as exc:
            raise _invalid(exc) from exc
        return Response(CredentialSerializer(credential).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credential = self.get_object()
        data = self.get_serializer(credential, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            credential = credential_update(
                credential=credential,
                name=values.get("name", credential.name),
                username=values.get("username", credential.username),
                password=values.get("password") or None,
                description=values.get("description", credential.description),
                user=request.user,
            )
        except ValidationError as exc:
            raise _invalid(exc) from exc
        return Response(CredentialSerializer(credential).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credential_delete(credential=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordVaultViewSet(viewsets.ModelViewSet):
    """Password vaults: passwords tried on protected PFX/P12 files of a device's folder or share."""

    serializer_class = PasswordVaultSerializer
    permission_classes = [AdminWriteAuditorRead]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self) -> QuerySet[PasswordVault]:
        return password_vault_list()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            vault = password_vault_create(
                name=values.get("name", ""),
                passwords=values.get("passwords", []),
                description=values.get("description", ""),
                user=request.user,
            )
        except ValidationError as exc:
            raise _invalid(exc) from exc
        return Response(PasswordVaultSerializer(vault).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        vault = self.get_object()
        data = self.get_serializer(vault, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            vault = password_vault_update(
                vault=vault,
                name=values.get("name", vault.name),
                passwords=values.get("passwords"),
                description=values.get("description", vault.description),
                user=request.user,
            )
        except ValidationError as exc:
            raise _invalid(exc) from exc
        return Response(PasswordVaultSerializer(vault).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        password_vault_delete(vault=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
