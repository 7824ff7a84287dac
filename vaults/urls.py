"""Settings > Credential List (credentials and password vaults)."""

from django.urls import path

from vaults import views

app_name = "vaults"

urlpatterns = [
    path("settings/credentials/", views.credential_list_view, name="credential_list"),
    path("settings/credentials/add/", views.credential_create_view, name="credential_create"),
    path("settings/credentials/<int:pk>/edit/", views.credential_edit_view, name="credential_edit"),
    path("settings/credentials/<int:pk>/delete/", views.credential_delete_view, name="credential_delete"),
    path("settings/credentials/password-vaults/add/", views.password_vault_create_view, name="password_vault_create"),
    path(
        "settings/credentials/password-vaults/<int:pk>/edit/",
        views.password_vault_edit_view,
        name="password_vault_edit",
    ),
    path(
        "settings/credentials/password-vaults/<int:pk>/delete/",
        views.password_vault_delete_view,
        name="password_vault_delete",
    ),
]
