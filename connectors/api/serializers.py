from __future__ import annotations

from rest_framework import serializers

from connectors.models import GeneralSettings


class GeneralSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = GeneralSettings
        fields = ["pkcs12_encryption", "push_validation_interval_minutes", "push_validation_concurrency", "updated_at"]
        read_only_fields = ["updated_at"]
