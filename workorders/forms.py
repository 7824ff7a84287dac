"""Forms of the work-order dialogs: a comment for every verb; implement adds "manual implementation" and a time."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from workorders.choices import Verb, WorkOrderState


class TransitionForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}), label="Comments"
    )
    expected_state = forms.ChoiceField(choices=WorkOrderState.choices, widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, verb: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verb = verb
        if verb == Verb.REJECT:
            self.fields["comment"].required = True
            self.fields["comment"].label = "Reason for rejecting"


class ImplementForm(TransitionForm):
    manual_implementation = forms.ChoiceField(
        choices=[("on", "On: implement now"), ("off", "Off: schedule for a date and time")],
        initial="on",
        widget=forms.RadioSelect,
        label="Manual implementation",
    )
    schedule_at = forms.DateTimeField(
        required=False,
        label="Implement at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text="In your time zone.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("manual_implementation") == "off":
            when = data.get("schedule_at")
            if when is None:
                self.add_error("schedule_at", "Choose the date and time of the implementation.")
            elif when <= timezone.now():
                self.add_error("schedule_at", "Choose a date and time in the future, or implement now.")
        else:
            data["schedule_at"] = None
        return data
