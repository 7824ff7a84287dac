"""API paths of enrollment that are not router resources (included under /api/v1/ by clm/api/urls.py)."""

from django.urls import path

from enrollment.api import views

urlpatterns = [
    path("certificates/<int:pk>/download/", views.CertificateDownloadApi.as_view(), name="certificate-download"),
    path("certificates/<int:pk>/revoke/", views.CertificateRevokeApi.as_view(), name="certificate-revoke"),
]
