from __future__ import annotations

import base64
import binascii
from typing import Any

from rest_framework import serializers

from certificates.exports import portal_key
from enrollment.ca import ca_module_get
from enrollment.choices import CsrSource, RevocationReason
from enrollment.models import CAAccount, Enrollment, EnrollmentAttachment
from enrollment.services import AttachmentInput, EnrollmentInput, enrollment_work_order


class AttachmentInputSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, max_length=100)
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    filename = serializers.CharField(max_length=255)
    content_type = serializers.CharField(required=False, default="application/octet-stream", max_length=100)
    content_base64 = serializers.CharField(help_text="The file's bytes, base64-encoded.")

    def validate_content_base64(self, value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("Not valid base64.") from None


class EnrollmentCreateSerializer(serializers.Serializer):
    """API.md `POST enrollments/`; the rules themselves (reference Table 15, the group's policy) are checked by
    enrollment.services.enrollment_create, which names each failing field."""

    group = serializers.IntegerField(required=False, allow_null=True, default=None)
    ca_account = serializers.IntegerField(required=False, allow_null=True, default=None)
    certificate_type = serializers.CharField(required=False, default="server", max_length=32)
    connector_name = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    csr_source = serializers.ChoiceField(choices=CsrSource.choices)
    csr = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None, trim_whitespace=False)
    params = serializers.JSONField(required=False, default=dict)
    renew_automatically = serializers.BooleanField(required=False, default=False)
    renew_days_before = serializers.IntegerField(required=False, default=30)
    regenerate_automatically = serializers.BooleanField(required=False, default=False)
    regenerate_days_before = serializers.IntegerField(required=False, default=30)
    reenroll_automatically = serializers.BooleanField(required=False, default=False)
    reenroll_days_before = serializers.IntegerField(required=False, default=30)
    challenge_password = serializers.CharField(
        required=False, allow_blank=True, default="", write_only=True, trim_whitespace=False
    )
    challenge_password_confirm = serializers.CharField(
        required=False, allow_blank=True, default="", write_only=True, trim_whitespace=False
    )
    attributes = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
    vendor_certificate_id = serializers.CharField(required=False, allow_blank=True, default="")
    device_name = serializers.CharField(required=False, allow_blank=True, default="")
    application_ip = serializers.CharField(required=False, allow_blank=True, allow_null=True, default="")
    tracking_id = serializers.CharField(required=False, allow_blank=True, default="")
    attachments = AttachmentInputSerializer(many=True, required=False, default=list)

    def validate_params(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Give the CSR parameters as an object.")
        return value

    def to_input(self) -> EnrollmentInput:
        data = dict(self.validated_data)
        attachments = [
            AttachmentInput(
                name=a["name"],
                comment=a["comment"],
                filename=a["filename"],
                content_type=a["content_type"],
                content=a["content_base64"],
            )
            for a in data.pop("attachments")
        ]
        return EnrollmentInput(**data, attachments=attachments)


class AttachmentSerializer(serializers.ModelSerializer):
    uploaded_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = EnrollmentAttachment
        fields = ["id", "name", "comment", "filename", "content_type", "size", "uploaded_by", "uploaded_at"]
        read_only_fields = fields


class EnrollmentSerializer(serializers.ModelSerializer):
    requester: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)
    work_order = serializers.SerializerMethodField()
    work_order_id = serializers.SerializerMethodField()
    request_id = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    has_private_key = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)
    csr = serializers.CharField(source="csr_pem", read_only=True)

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "work_order",
            "work_order_id",
            "request_id",
            "state",
            "group",
            "ca_account",
            "certificate_type",
            "connector_name",
            "description",
            "renew_automatically",
            "renew_days_before",
            "regenerate_automatically",
            "regenerate_days_before",
            "reenroll_automatically",
            "reenroll_days_before",
            "csr_source",
            "csr",
            "params",
            "attributes",
            "vendor_certificate_id",
            "device_name",
            "application_ip",
            "tracking_id",
            "certificate",
            "has_private_key",
            "attachments",
            "requester",
            "created_at",
        ]
        read_only_fields = fields

    def get_work_order(self, enrollment: Enrollment) -> int:
        return enrollment_work_order(enrollment).pk

    def get_work_order_id(self, enrollment: Enrollment) -> str:
        return enrollment_work_order(enrollment).work_order_id or ""

    def get_request_id(self, enrollment: Enrollment) -> str:
        return enrollment_work_order(enrollment).request_id or ""

    def get_state(self, enrollment: Enrollment) -> str:
        return enrollment_work_order(enrollment).state

    def get_has_private_key(self, enrollment: Enrollment) -> bool:
        if enrollment.certificate is not None:
            return portal_key(enrollment.certificate) is not None
        return enrollment.private_key_id is not None


class CsrPrefillSerializer(serializers.Serializer):
    csr = serializers.CharField(trim_whitespace=False, allow_blank=True)


class CAAccountSerializer(serializers.ModelSerializer):
    ca_label = serializers.SerializerMethodField()
    templates = serializers.SerializerMethodField()
    details = serializers.SerializerMethodField()

    class Meta:
        model = CAAccount
        fields = ["id", "name", "ca", "ca_label", "description", "enabled", "templates", "details", "created_at"]
        read_only_fields = fields

    def get_ca_label(self, account: CAAccount) -> str:
        return ca_module_get(account.ca).label

    def get_templates(self, account: CAAccount) -> list[dict[str, Any]]:
        return [
            {"name": t.name, "label": t.label, "extended_key_usage": list(t.extended_key_usage)}
            for t in ca_module_get(account.ca).templates(account)
        ]

    def get_details(self, account: CAAccount) -> dict[str, Any]:
        return ca_module_get(account.ca).describe(account)


class RevokeSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=RevocationReason.choices, default=RevocationReason.UNSPECIFIED)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DownloadSerializer(serializers.Serializer):
    # "type", not "format": DRF reserves ?format= for choosing a renderer.
    type = serializers.ChoiceField(
        choices=[("pem", "PEM"), ("chain", "PEM with chain"), ("der", "DER"), ("pfx", "PFX")]
    )
    password = serializers.CharField(
        required=False, allow_blank=True, default="", write_only=True, trim_whitespace=False
    )
