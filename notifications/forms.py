"""Webhook forms (validation only; the services vet the URL's host)."""

from __future__ import annotations

from django import forms

from training.events import EVENTS

EVENT_CHOICES = [
    ("training.completed", "Training completed"),
    ("training.failed", "Training failed"),
    ("export.ready", "Export ready"),
    ("iteration.published", "Iteration published"),
    ("iteration.unpublished", "Iteration unpublished"),
]
assert [c[0] for c in EVENT_CHOICES] == list(EVENTS)


class WebhookForm(forms.Form):
    url = forms.URLField(label="Payload URL", max_length=500, assume_scheme="https",
                         widget=forms.URLInput(attrs={"placeholder": "https://example.com/tagsight-hook"}))
    events = forms.MultipleChoiceField(choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple,
                                       initial=list(EVENTS))
    active = forms.BooleanField(required=False, initial=True)


class PreferenceForm(forms.Form):
    training_email = forms.BooleanField(required=False, label="E-mail me when a training I started finishes")
