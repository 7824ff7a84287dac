from django.urls import path

from connectors import views

app_name = "connectors"

urlpatterns = [
    path("settings/general/", views.general_settings, name="general_settings"),
]
