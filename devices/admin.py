from django.contrib import admin

from devices.models import Device, DeviceValidation, Gateway


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    list_display = ["name", "mode", "gateway_type", "location", "url"]
    exclude = ["password", "client_certificate", "client_certificate_password"]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["name", "hostname", "data_center", "cert_sync", "status", "gateway", "validated_at"]
    list_filter = ["status", "cert_sync", "gateway"]
    search_fields = ["name", "hostname"]
    exclude = ["password", "folder_password"]


@admin.register(DeviceValidation)
class DeviceValidationAdmin(admin.ModelAdmin):
    list_display = ["id", "device", "state", "status", "queue", "worker", "created_at", "finished_at"]
    list_filter = ["state", "status"]
