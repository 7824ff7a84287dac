"""Discovery pages: Managed Devices Scan, Runs, discovery rules, access control rules."""

from django.urls import path

from discovery import views

app_name = "discovery"

urlpatterns = [
    path("discovery/scans/", views.discovery_list, name="discovery_list"),
    path("discovery/scans/new/", views.discovery_create, name="discovery_create"),
    path("discovery/schedule-preview/", views.schedule_preview, name="schedule_preview"),
    path("discovery/scans/<int:pk>/edit/", views.discovery_edit, name="discovery_edit"),
    path("discovery/scans/<int:pk>/delete/", views.discovery_delete, name="discovery_delete"),
    path("discovery/scans/<int:pk>/run/", views.discovery_run, name="discovery_run"),
    path("discovery/devices/<int:pk>/favourite/", views.device_favourite, name="device_favourite"),
    path("discovery/runs/", views.run_list, name="run_list"),
    path("discovery/runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("discovery/rules/", views.rule_list, name="rule_list"),
    path("discovery/rules/new/", views.rule_create, name="rule_create"),
    path("discovery/rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("discovery/rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("discovery/access-rules/", views.access_rule_list, name="access_rule_list"),
    path("discovery/access-rules/new/", views.access_rule_create, name="access_rule_create"),
    path("discovery/access-rules/<int:pk>/edit/", views.access_rule_edit, name="access_rule_edit"),
    path("discovery/access-rules/<int:pk>/delete/", views.access_rule_delete, name="access_rule_delete"),
]
