from __future__ import annotations

from rest_framework import serializers

from clm.models import AuditEvent, Job


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    created_by: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "state",
            "queue",
            "params",
            "progress",
            "message",
            "result",
            "error",
            "attempts",
            "worker",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class SelftestRequestSerializer(serializers.Serializer):
    steps = serializers.IntegerField(min_value=1, max_value=50, default=5)
    delay = serializers.FloatField(min_value=0, max_value=2, default=0.2)


class JobCreatedSerializer(serializers.Serializer):
    job = serializers.IntegerField()


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "summary",
            "source_ip",
            "request_id",
            "tracking_id",
        ]
        read_only_fields = fields
