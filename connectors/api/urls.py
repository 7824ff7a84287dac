from django.urls import include, path
from rest_framework.routers import DefaultRouter

from connectors.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("connectors", views.ConnectorViewSet, basename="connector")

urlpatterns = [
    path("settings/general/", views.GeneralSettingsApi.as_view(), name="api-general-settings"),
    path("reports/push-validation/", views.PushValidationReportApi.as_view(), name="api-push-validation-report"),
    path("reports/push-validation/run/", views.PushValidationRunApi.as_view(), name="api-push-validation-run"),
    path("work-orders/<int:pk>/push-devices/", views.WorkOrderPushApi.as_view(), name="api-workorder-push-devices"),
    path("", include(router.urls)),
]
