"""Forms of the projects pages: input validation only (the services enforce the domain rules)."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from django import forms
from django.utils.datastructures import MultiValueDict

from projects.domains import (
    DEFAULT_CLASSIFICATION_DOMAIN,
    DEFAULT_DETECTION_DOMAIN,
    DOMAINS,
    DOMAINS_BY_ID,
    OBJECT_DETECTION,
)
from projects.models import DEFAULT_MAX_DETECTIONS, MAX_DETECTIONS_LIMIT, Project, Tag


def _domain_choices(domain_type: str) -> list[tuple[str, str]]:
    return [(str(d.id), d.name) for d in DOMAINS if (d.type == OBJECT_DETECTION) == (domain_type == "detection")]


def _described(field: forms.BoundField) -> list[tuple[Any, str]]:
    return [(radio, DOMAINS_BY_ID[UUID(str(radio.data["value"]))].description) for radio in field]


class ProjectForm(forms.Form):
    """Azure's "Create new project" dialog. One domain group per project type, so no script is needed to
    filter them: the page shows the group of the checked type (CSS :has) and clean() reads that group."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    project_type = forms.ChoiceField(
        choices=Project.ProjectType.choices, initial=Project.ProjectType.CLASSIFICATION, widget=forms.RadioSelect
    )
    classification_type = forms.ChoiceField(
        choices=Project.ClassificationType.choices,
        initial=Project.ClassificationType.MULTICLASS,
        widget=forms.RadioSelect,
        required=False,
    )
    domain_classification = forms.ChoiceField(
        choices=_domain_choices("classification"), initial=str(DEFAULT_CLASSIFICATION_DOMAIN),
        widget=forms.RadioSelect, required=False, label="Domain",
    )
    domain_detection = forms.ChoiceField(
        choices=_domain_choices("detection"), initial=str(DEFAULT_DETECTION_DOMAIN),
        widget=forms.RadioSelect, required=False, label="Domain",
    )
    max_detections = forms.IntegerField(
        min_value=1, max_value=MAX_DETECTIONS_LIMIT, initial=DEFAULT_MAX_DETECTIONS, required=False,
        label="Max detections per image",
        help_text=f"Object detection: the most boxes one prediction returns, most probable first (1 to "
                  f"{MAX_DETECTIONS_LIMIT}). Boxes under 1 % probability are never returned.",
        error_messages={
            "invalid": f"Max detections must be a whole number from 1 to {MAX_DETECTIONS_LIMIT}.",
            "min_value": f"Max detections must be a whole number from 1 to {MAX_DETECTIONS_LIMIT}.",
            "max_value": f"Max detections must be a whole number from 1 to {MAX_DETECTIONS_LIMIT}.",
        },
    )

    @property
    def classification_domains(self) -> list[tuple[Any, str]]:
        """(radio, what the domain trains) pairs: the page says what each domain changes, as get_domains does."""
        return _described(self["domain_classification"])

    @property
    def detection_domains(self) -> list[tuple[Any, str]]:
        return _described(self["domain_detection"])

    @classmethod
    def initial_for(cls, project: Project) -> dict[str, Any]:
        group = "domain_detection" if project.is_detection else "domain_classification"
        return {
            "name": project.name,
            "description": project.description,
            "project_type": project.project_type,
            "classification_type": project.classification_type,
            "max_detections": project.max_detections,
            group: str(project.domain_id),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        project_type = data.get("project_type") or Project.ProjectType.CLASSIFICATION
        data["classification_type"] = data.get("classification_type") or Project.ClassificationType.MULTICLASS
        chosen = data.pop("domain_detection" if project_type == "detection" else "domain_classification", None)
        data.pop("domain_detection", None)
        data.pop("domain_classification", None)
        data["domain_id"] = UUID(chosen) if chosen else None
        return data


# One wording wherever a tag is named (panel, upload picker, rename, labeler picker); js/site.js says the same live.
TAG_NAME_ERRORS = {
    "required": "A tag needs a name.",
    "max_length": "Tag names can be at most %(limit_value)d characters; this one has %(show_value)d.",
}


class TagForm(forms.Form):
    name = forms.CharField(max_length=200, error_messages=TAG_NAME_ERRORS)
    type = forms.ChoiceField(choices=Tag.TagType.choices, initial=Tag.TagType.REGULAR, required=False)

    def clean_type(self) -> str:
        return self.cleaned_data.get("type") or Tag.TagType.REGULAR


class GridFilterForm(forms.Form):
    """The Training images filters, Azure's taggingStatus plus tags (any of them), and the page."""

    FILTERS = (("all", "All"), ("tagged", "Tagged"), ("untagged", "Untagged"))
    filter = forms.ChoiceField(choices=FILTERS, required=False)
    tag = forms.TypedMultipleChoiceField(coerce=UUID, required=False)
    page = forms.IntegerField(min_value=1, required=False)

    def __init__(self, *args: Any, tags: list[Tag], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["tag"]).choices = [(str(t.id), t.name) for t in tags]

    def values(self) -> tuple[str, list[UUID], int]:
        """(filter, tag ids, page) with anything invalid dropped rather than failing the page."""
        data = self.cleaned_data if self.is_valid() else {}
        tags = data.get("tag") or []
        filter_ = data.get("filter") or ("tagged" if tags else "all")
        return filter_, tags, data.get("page") or 1


class UUIDListField(forms.Field):
    """Many UUIDs from repeated inputs; checked against the project by the service, in one query."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[UUID]:
        try:
            return [UUID(str(v)) for v in value or ()]
        except ValueError as exc:
            raise forms.ValidationError("Malformed id.", code="invalid") from exc

    def validate(self, value: list[UUID]) -> None:
        if self.required and not value:
            raise forms.ValidationError("Select at least one image.", code="required")


class ImageActionForm(forms.Form):
    ACTIONS = (("tag", "Add tag"), ("untag", "Remove tag"), ("delete", "Delete"))
    action = forms.ChoiceField(choices=ACTIONS)
    image_ids = UUIDListField()
    tag_ids = forms.TypedMultipleChoiceField(coerce=UUID, required=False)

    def __init__(self, *args: Any, tags: list[Tag], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["tag_ids"]).choices = [(str(t.id), t.name) for t in tags]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") in ("tag", "untag") and not data.get("tag_ids"):
            self.add_error("tag_ids", forms.ValidationError("Pick a tag.", code="tag_required"))
        return data


class UploadTagsForm(forms.Form):
    """Tags applied to the whole upload batch, as Azure's upload dialog does."""

    tags = forms.TypedMultipleChoiceField(coerce=UUID, required=False)

    def __init__(self, *args: Any, tags: list[Tag], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["tags"]).choices = [(str(t.id), t.name) for t in tags]
        # The multiclass picker's "No tag".
        if isinstance(self.data, MultiValueDict) and "" in self.data.getlist("tags"):
            self.data = self.data.copy()
            self.data.setlist("tags", [t for t in self.data.getlist("tags") if t])
