"""Inventory API routes (registered on the /api/v1/ router by clm/api/urls.py)."""

from rest_framework.routers import SimpleRouter

from certificates.api.views import CertificateViewSet, GroupViewSet, PolicyViewSet

router = SimpleRouter()
router.register("certificates", CertificateViewSet, basename="certificate")
router.register("groups", GroupViewSet, basename="group")
router.register("policies", PolicyViewSet, basename="policy")

urlpatterns = router.urls
