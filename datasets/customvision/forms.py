"""Forms of the Custom Vision import pages (validation only)."""

from __future__ import annotations

from django import forms


class ConnectForm(forms.Form):
    endpoint = forms.URLField(
        label="Endpoint", max_length=500, assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://<name>.cognitiveservices.azure.com/", "autofocus": True}),
        help_text="The training resource's endpoint, as the Azure portal shows it (Keys and Endpoint).",
    )
    training_key = forms.CharField(
        label="Training key", max_length=200, strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Key 1 or Key 2 of that resource. It is kept only until the import ends, then forgotten.",
    )


class PickForm(forms.Form):
    def __init__(self, *args: object, found: list[dict[str, object]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["projects"] = forms.MultipleChoiceField(
            choices=[(str(p["id"]), str(p["name"])) for p in found], widget=forms.CheckboxSelectMultiple,
            error_messages={"required": "Pick at least one project to import."},
        )
