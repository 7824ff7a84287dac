"""Discovery API routes under /api/v1/."""

from rest_framework.routers import SimpleRouter

from discovery.api.views import AccessControlRuleViewSet, DiscoveryRuleViewSet, DiscoveryRunViewSet, DiscoveryViewSet

router = SimpleRouter()
router.register("discoveries", DiscoveryViewSet, basename="discovery")
router.register("discovery-runs", DiscoveryRunViewSet, basename="discoveryrun")
router.register("discovery-rules", DiscoveryRuleViewSet, basename="discoveryrule")
router.register("access-control-rules", AccessControlRuleViewSet, basename="accesscontrolrule")

urlpatterns = router.urls
