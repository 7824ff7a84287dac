"""Settings > Credential List: named credentials and password vaults. Administrators only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clm.api.errors import ApplicationError
from clm.views import require_role
from vaults.forms import CredentialForm, PasswordVaultForm
from vaults.models import Credential, PasswordVault
from vaults.selectors import credential_list, password_vault_list
from vaults.services import (
    credential_create,
    credential_delete,
    credential_update,
    password_vault_create,
    password_vault_delete,
    password_vault_update,
)


@login_required
def credential_list_view(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    credentials = [
        {"credential": c, "devices": c.devices.count() + c.folder_devices.count()} for c in credential_list()
    ]
    vaults = [{"vault": v, "devices": v.devices.count()} for v in password_vault_list()]
    return render(request, "vaults/credential_list.html", {"credentials": credentials, "vaults": vaults})


@login_required
def credential_create_view(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    form = CredentialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            credential = credential_create(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Credential {credential.name} added.")
            return redirect("vaults:credential_list")
    return render(request, "vaults/credential_form.html", {"form": form, "credential": None})


@login_required
def credential_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, "administrator")
    credential = get_object_or_404(Credential, pk=pk)
    initial = {"name": credential.name, "description": credential.description, "username": credential.username}
    form = CredentialForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            credential_update(
                credential=credential,
                name=data["name"],
                username=data["username"],
                password=data.get("password") or None,
                description=data.get("description", ""),
                user=request.user,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Credential {credential.name} saved.")
            return redirect("vaults:credential_list")
    return render(request, "vaults/credential_form.html", {"form": form, "credential": credential})


@login_required
@require_POST
def credential_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, "administrator")
    credential = get_object_or_404(Credential, pk=pk)
    try:
        credential_delete(credential=credential, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Credential {credential.name} deleted.")
    return redirect("vaults:credential_list")


@login_required
def password_vault_create_view(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    form = PasswordVaultForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            vault = password_vault_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data.get("description", ""),
                passwords=form.password_list(),
                user=request.user,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Password vault {vault.name} added.")
            return redirect("vaults:credential_list")
    return render(request, "vaults/password_vault_form.html", {"form": form, "vault": None})


@login_required
def password_vault_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, "administrator")
    vault = get_object_or_404(PasswordVault, pk=pk)
    initial = {"name": vault.name, "description": vault.description}
    form = PasswordVaultForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            password_vault_update(
                vault=vault,
                name=form.cleaned_data["name"],
                description=form.cleaned_data.get("description", ""),
                passwords=form.password_list() or None,
                user=request.user,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Password vault {vault.name} saved.")
            return redirect("vaults:credential_list")
    return render(request, "vaults/password_vault_form.html", {"form": form, "vault": vault})


@login_required
@require_POST
def password_vault_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, "administrator")
    vault = get_object_or_404(PasswordVault, pk=pk)
    try:
        password_vault_delete(vault=vault, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Password vault {vault.name} deleted.")
    return redirect("vaults:credential_list")
