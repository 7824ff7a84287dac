"""Server inventory (Device Management > Server) and Settings > Gateways."""

from django.urls import path

from devices import views

app_name = "devices"

urlpatterns = [
    path("devices/", views.device_list_view, name="device_list"),
    path("devices/add/", views.device_create_view, name="device_create"),
    path("devices/validate/", views.device_bulk_validate_view, name="device_bulk_validate"),
    path("devices/import/", views.device_import_view, name="device_import"),
    path("devices/import/template.csv", views.device_import_template_view, name="device_import_template"),
    path("devices/<int:pk>/", views.device_detail_view, name="device_detail"),
    path("devices/<int:pk>/edit/", views.device_edit_view, name="device_edit"),
    path("devices/<int:pk>/delete/", views.device_delete_view, name="device_delete"),
    path("devices/<int:pk>/validate/", views.device_validate_view, name="device_validate"),
    path("devices/<int:pk>/status/", views.device_status_view, name="device_status"),
    path("devices/<int:pk>/status-log/", views.device_status_log_view, name="device_status_log"),
    path("settings/gateways/", views.gateway_list_view, name="gateway_list"),
    path("settings/gateways/add/", views.gateway_create_view, name="gateway_create"),
    path("settings/gateways/<int:pk>/edit/", views.gateway_edit_view, name="gateway_edit"),
    path("settings/gateways/<int:pk>/delete/", views.gateway_delete_view, name="gateway_delete"),
]
