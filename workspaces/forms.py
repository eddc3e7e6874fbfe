"""Forms of the workspace and account pages (validation only; the services decide)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import UserCreationForm

from workspaces.models import Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Your team's name, as people will see it in the switcher.")


class InviteForm(forms.Form):
    # A plain text field: the service normalises and checks the address, and says why it is refused.
    email = forms.CharField(label="E-mail address", max_length=254,
                            widget=forms.EmailInput(attrs={"autocomplete": "off", "placeholder": "name@example.com"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.LABELER)


class MemberRoleForm(forms.Form):
    user = forms.IntegerField()
    role = forms.ChoiceField(choices=Role.choices)


class SignUpForm(UserCreationForm):  # type: ignore[type-arg]
    """A new account: username, e-mail (for password reset), password twice."""

    email = forms.EmailField(label="E-mail address", help_text="Used to reset your password.")

    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined,misc]
        fields = ("username", "email")

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=False)
        user.email = self.cleaned_data["email"].strip().lower()
        if commit:
            user.save()
        return user


class InvitedSignUpForm(SignUpForm):
    """The account of an invitee: the e-mail address is the invitation's and cannot be changed here."""

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].initial = email
        self.fields["email"].disabled = True  # a disabled field keeps its initial value whatever is posted
        self.fields["email"].help_text = "The address the invitation was sent to."
