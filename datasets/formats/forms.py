"""Forms of the import and export pages (validation only)."""

from __future__ import annotations

from typing import Any

from django import forms

from datasets.formats.archive import MAX_ARCHIVE_BYTES
from datasets.formats.registry import format_choices
from datasets.formats.services import SPLITS
from projects.models import Project, Tag
from training.models import Iteration


def _set_formats(form: forms.Form, project: Project) -> None:
    """Offer only the formats that fit the project (detection formats for object detection, and so on)."""
    field = form.fields["format"]
    assert isinstance(field, forms.ChoiceField)
    field.choices = format_choices(detection=project.is_detection)


class ImportForm(forms.Form):
    format = forms.ChoiceField(label="Format")
    file = forms.FileField(label="Dataset zip",
                           widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}))

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_formats(self, project)

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_ARCHIVE_BYTES:
            raise forms.ValidationError(f"The zip is larger than {MAX_ARCHIVE_BYTES // 2**20:,} MB; split it into "
                                        "several imports.")
        return upload


SCOPES = [("all", "All images"), ("tags", "Images with any of these tags"),
          ("iteration", "One iteration's training or validation images")]


class ExportForm(forms.Form):
    format = forms.ChoiceField(label="Format")
    scope = forms.ChoiceField(label="Images", choices=SCOPES, initial="all", widget=forms.RadioSelect)
    tags = forms.ModelMultipleChoiceField(label="Tags", queryset=Tag.objects.none(), required=False,
                                          widget=forms.CheckboxSelectMultiple)
    iteration = forms.ModelChoiceField(label="Iteration", queryset=Iteration.objects.none(), required=False)
    split = forms.ChoiceField(label="Split", choices=[(s, s.capitalize()) for s in SPLITS], initial="train",
                              widget=forms.RadioSelect, required=False)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_formats(self, project)
        tags_field = self.fields["tags"]
        assert isinstance(tags_field, forms.ModelMultipleChoiceField)
        tags_field.queryset = Tag.objects.filter(project=project).order_by("name")
        iteration_field = self.fields["iteration"]
        assert isinstance(iteration_field, forms.ModelChoiceField)
        iteration_field.queryset = Iteration.objects.filter(
            project=project, status=Iteration.Status.COMPLETED).order_by("-number")
        iteration_field.empty_label = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") == "tags" and not data.get("tags"):
            self.add_error("tags", "Pick at least one tag.")
        if data.get("scope") == "iteration":
            if not data.get("iteration"):
                self.add_error("iteration", "Pick a trained iteration.")
            if not data.get("split"):
                self.add_error("split", "Pick the training or the validation split.")
        return data
