"""Inventory pages. The holistic view (a certificate's home page) and its downloads live in certificates.holistic;
the inventory lists join them here."""

from django.urls import path

from certificates import holistic

app_name = "certificates"

urlpatterns = [
    path("certificates/<int:pk>/", holistic.certificate_detail, name="certificate_detail"),
    path("certificates/<int:pk>/download/<slug:fmt>/", holistic.certificate_download, name="certificate_download"),
]
