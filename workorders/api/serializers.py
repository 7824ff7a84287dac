from __future__ import annotations

from typing import Any

from rest_framework import serializers

from workorders.choices import WorkOrderState
from workorders.models import WorkOrder, WorkOrderApproval, WorkOrderEvent
from workorders.selectors import workorder_available_verbs


class WorkOrderEventSerializer(serializers.ModelSerializer):
    state = serializers.CharField(source="to_state")
    by = serializers.CharField(source="actor_name")

    class Meta:
        model = WorkOrderEvent
        fields = ["state", "from_state", "verb", "by", "at", "comment"]
        read_only_fields = fields


class WorkOrderApprovalSerializer(serializers.ModelSerializer):
    by: Any = serializers.SlugRelatedField(source="approver", slug_field="username", read_only=True)

    class Meta:
        model = WorkOrderApproval
        fields = ["level", "by", "at", "comment"]
        read_only_fields = fields


class WorkOrderSerializer(serializers.ModelSerializer):
    requester: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)
    target = serializers.SerializerMethodField()
    events = WorkOrderEventSerializer(many=True, read_only=True)
    approvals = WorkOrderApprovalSerializer(many=True, read_only=True)
    error = serializers.SerializerMethodField()
    available_actions = serializers.SerializerMethodField()

    class Meta:
        model = WorkOrder
        fields = [
            "id",
            "request_id",
            "work_order_id",
            "action",
            "state",
            "summary",
            "requester",
            "target",
            "certificate",
            "group",
            "approval_levels",
            "approvals",
            "schedule_at",
            "tracking_id",
            "attempts",
            "events",
            "result",
            "error",
            "available_actions",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_target(self, order: WorkOrder) -> dict[str, Any] | None:
        if order.target_type is None:
            return None
        return {"type": order.target_type.model, "id": order.target_id}

    def get_error(self, order: WorkOrder) -> str | None:
        return order.error or None

    def get_available_actions(self, order: WorkOrder) -> list[str]:
        request = self.context.get("request")
        if request is None or request.user is None:
            return []
        return [str(v) for v in workorder_available_verbs(order=order, user=request.user)]


class TransitionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    expected_state = serializers.ChoiceField(
        choices=WorkOrderState.choices,
        required=False,
        allow_null=True,
        default=None,
        help_text="The state the caller saw; the call fails with 409 if the order has moved since.",
    )


class ImplementSerializer(TransitionSerializer):
    schedule_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="null: implement now; else the date and time."
    )
