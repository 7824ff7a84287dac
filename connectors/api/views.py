"""Connector API views."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clm.api.permissions import role_permission
from connectors.api.serializers import GeneralSettingsSerializer
from connectors.settings_services import general_settings_get, general_settings_update


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
