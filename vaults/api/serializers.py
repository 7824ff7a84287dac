"""Serializers of the credential list and password vaults: secrets are write-only."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from vaults.models import Credential, PasswordVault


class CredentialSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False)
    devices = serializers.SerializerMethodField()

    class Meta:
        model = Credential
        fields = ["id", "name", "description", "username", "password", "devices", "created_at", "updated_at"]
        read_only_fields = ["id", "devices", "created_at", "updated_at"]
        # The service checks presence and uniqueness, so that one answer names every field that is wrong.
        extra_kwargs: dict[str, dict[str, Any]] = {
            "name": {"validators": [], "required": False, "allow_blank": True},
            "username": {"required": False, "allow_blank": True},
        }

    def get_devices(self, credential: Credential) -> int:
        return credential.devices.count() + credential.folder_devices.count()


class PasswordVaultSerializer(serializers.ModelSerializer):
    passwords = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False), write_only=True, required=False
    )
    password_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = PasswordVault
        fields = ["id", "name", "description", "passwords", "password_count", "created_at", "updated_at"]
        read_only_fields = ["id", "password_count", "created_at", "updated_at"]
        extra_kwargs: dict[str, dict[str, Any]] = {"name": {"validators": [], "required": False, "allow_blank": True}}
