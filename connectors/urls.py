from django.urls import path

from connectors import views

app_name = "connectors"

urlpatterns = [
    path("settings/general/", views.general_settings, name="general_settings"),
    path("connectors/new/", views.connector_create, name="connector_create"),
    path("connectors/profiles/", views.connector_profiles, name="connector_profiles"),
    path("connectors/<int:pk>/", views.connector_detail, name="connector_detail"),
    path("connectors/<int:pk>/edit/", views.connector_edit, name="connector_edit"),
    path("connectors/<int:pk>/delete/", views.connector_remove, name="connector_delete"),
    path("connectors/<int:pk>/push/", views.connector_push, name="connector_push"),
    path("connectors/<int:pk>/rollback/", views.connector_rollback, name="connector_rollback"),
    path("push/server/", views.push_server, name="push_server"),
    path("push/client/", views.push_client, name="push_client"),
    path("reports/push-validation/", views.push_validation_report, name="push_validation_report"),
    path("reports/push-validation/run/", views.push_validation_run, name="push_validation_run"),
]
