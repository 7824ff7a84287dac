from django.urls import path

from connectors.api import views

urlpatterns = [
    path("settings/general/", views.GeneralSettingsApi.as_view(), name="api-general-settings"),
]
