"""All API routes under /api/v1/. Each app adds its router here."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from clm.api import views
from devices.api.views import DeviceViewSet, GatewayViewSet
from enrollment.api.views import CAAccountViewSet, EnrollmentViewSet
from vaults.api.views import CredentialViewSet, PasswordVaultViewSet
from workorders.api.views import WorkOrderViewSet

router = DefaultRouter()
router.register("jobs", views.JobViewSet, basename="job")
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")
router.register("devices", DeviceViewSet, basename="device")
router.register("gateways", GatewayViewSet, basename="gateway")
router.register("credentials", CredentialViewSet, basename="credential")
router.register("password-vaults", PasswordVaultViewSet, basename="passwordvault")
router.register("work-orders", WorkOrderViewSet, basename="workorder")
router.register("enrollments", EnrollmentViewSet, basename="enrollment")
router.register("ca-accounts", CAAccountViewSet, basename="caaccount")

urlpatterns = [
    path("auth/token/", views.TokenApi.as_view(), name="api-token"),
    path("", include("enrollment.api.urls")),
    path("", include(router.urls)),
    path("", include("connectors.api.urls")),
    path("", include("certificates.api.urls")),
    path("", include("discovery.api.urls")),
]
