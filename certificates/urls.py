"""Inventory pages: Inventory > Server / Client, a certificate's home page (the holistic view, certificates.holistic)
with its downloads, Groups & Policies, and the expiry report."""

from django.urls import path

from certificates import holistic, views

app_name = "certificates"

urlpatterns = [
    path("inventory/server/", views.server_list, name="server_list"),
    path("inventory/client/", views.client_list, name="client_list"),
    path("inventory/<slug:kind>/saved-filters/", views.saved_filter_create, name="saved_filter_create"),
    path("inventory/saved-filters/<int:pk>/delete/", views.saved_filter_delete, name="saved_filter_delete"),
    path("certificates/<int:pk>/", holistic.certificate_detail, name="certificate_detail"),
    path("certificates/<int:pk>/download/<slug:fmt>/", holistic.certificate_download, name="certificate_download"),
    path("certificates/<int:pk>/move/", views.certificate_move, name="certificate_move"),
    path("groups/", views.group_list, name="group_list"),
    path("groups/new/", views.group_create, name="group_create"),
    path("groups/<int:pk>/edit/", views.group_edit, name="group_edit"),
    path("groups/<int:pk>/delete/", views.group_delete, name="group_delete"),
    path("policies/new/", views.policy_create, name="policy_create"),
    path("policies/<int:pk>/edit/", views.policy_edit, name="policy_edit"),
    path("policies/<int:pk>/delete/", views.policy_delete, name="policy_delete"),
    path("reports/expiry/", views.expiry_report, name="expiry_report"),
]
