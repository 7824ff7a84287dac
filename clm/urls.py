"""Top-level URLs: the UI of every app, the API under /api/v1/, the schema and its docs."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from clm import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(template_name="clm/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("soon/<slug:slug>/", views.not_built, name="not_built"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/selftest/", views.job_selftest, name="job_selftest"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("audit/", views.audit_list, name="audit_list"),
    path("settings/users/", views.user_list, name="user_list"),
    path("", include("devices.urls")),
    path("", include("vaults.urls")),
    path("", include("connectors.urls")),
    path("", include("workorders.urls")),
    path("", include("enrollment.urls")),
    path("", include("certificates.urls")),
    path("", include("discovery.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("clm.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
