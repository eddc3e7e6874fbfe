"""Forms for the labeler's posts (validation of types only; the services check the domain rules)."""

from __future__ import annotations

from django import forms

from projects.forms import TAG_NAME_ERRORS


class RegionForm(forms.Form):
    """A box posted by boxes.js. ``id`` is chosen by the browser so a retried save is idempotent."""

    id = forms.UUIDField(required=False)
    tag = forms.CharField(required=False, max_length=64)
    left = forms.FloatField(required=False)
    top = forms.FloatField(required=False)
    width = forms.FloatField(required=False)
    height = forms.FloatField(required=False)

    COORDS = ("left", "top", "width", "height")

    def __init__(self, *args: object, creating: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if creating:
            for name in (*self.COORDS, "tag"):
                self.fields[name].required = True

    def error_text(self) -> str:
        return "; ".join(f"{name}: {' '.join(str(m) for m in msgs)}" for name, msgs in self.errors.items())


class TagCreateForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True, error_messages=TAG_NAME_ERRORS)


class TagSetForm(forms.Form):
    tag = forms.UUIDField()
    on = forms.TypedChoiceField(choices=[("1", "on"), ("0", "off")], coerce=lambda v: v == "1")
