from django.contrib import admin

from vaults.models import Credential, PasswordVault


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ["name", "username", "updated_at"]
    exclude = ["password"]
    search_fields = ["name", "username"]


@admin.register(PasswordVault)
class PasswordVaultAdmin(admin.ModelAdmin):
    list_display = ["name", "updated_at"]
    exclude = ["passwords"]
