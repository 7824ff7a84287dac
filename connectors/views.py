"""Connector pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from clm.views import require_role
from connectors.forms import GeneralSettingsForm
from connectors.settings_services import general_settings_get, general_settings_update


@login_required
def general_settings(request: HttpRequest) -> HttpResponse:
    require_role(request, "administrator")
    form = GeneralSettingsForm(request.POST or None, instance=general_settings_get())
    if request.method == "POST" and form.is_valid():
        general_settings_update(actor=request.user, **{f: form.cleaned_data[f] for f in form.Meta.fields})
        messages.success(request, "General settings saved.")
        return redirect("connectors:general_settings")
    return render(request, "connectors/general_settings.html", {"form": form})
