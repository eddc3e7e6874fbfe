"""Scripting, as `az` does: `manage.py workspace create/add` and `manage.py apikeys USER [--workspace NAME]`.

The printed keys are checked against the API, not only against the database: a key a script reads must work.
"""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from tests.factories import make_project
from workspaces.models import Membership, Workspace
from workspaces.services import keys_of, personal_workspace_ensure

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def keys_printed(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines())


def projects_seen(training_key: str) -> list[str]:
    response = Client().get("/customvision/v3.3/training/projects", HTTP_TRAINING_KEY=training_key)
    assert response.status_code == 200, response.content
    return sorted(p["name"] for p in response.json())


@pytest.fixture
def users(django_user_model):  # type: ignore[no-untyped-def]
    return {name: django_user_model.objects.create_user(username=name) for name in ("ann", "bob", "cy", "dee", "eve")}


def test_create_then_add_each_role(users) -> None:  # type: ignore[no-untyped-def]
    assert "Created workspace 'Kitchen'" in run("workspace", "create", "Kitchen", "--owner", "ann")
    kitchen = Workspace.objects.get(name="Kitchen", personal_for=None)
    assert len(keys_of(workspace=kitchen)) == 4
    for username, role in (("bob", "trainer"), ("cy", "labeler"), ("dee", "viewer"), ("eve", "owner")):
        assert "Added" in run("workspace", "add", "Kitchen", username, "--role", role)
    assert dict(Membership.objects.filter(workspace=kitchen).values_list("user__username", "role")) == {
        "ann": "owner", "bob": "trainer", "cy": "labeler", "dee": "viewer", "eve": "owner"}

    # Adding again changes the role (or says there is nothing to change).
    assert "now Trainer of 'Kitchen' (was Labeler)" in run("workspace", "add", "Kitchen", "cy", "--role", "trainer")
    assert "already is Trainer" in run("workspace", "add", "Kitchen", "cy", "--role", "trainer")
    assert Membership.objects.get(workspace=kitchen, user__username="cy").role == "trainer"


@pytest.mark.parametrize(("args", "message"), [
    (("create", "Kitchen", "--owner", "nobody"), "No user named 'nobody'"),
    (("create", "kitchen", "--owner", "ann"), "already exists"),  # names are unique regardless of case
    (("create", " ", "--owner", "ann"), "1 to 100 characters"),
    (("add", "Nowhere", "bob", "--role", "viewer"), "No workspace named 'Nowhere'"),
    (("add", "Kitchen", "nobody", "--role", "viewer"), "No user named 'nobody'"),
    (("add", "Kitchen", "bob", "--role", "admin"), "invalid choice: 'admin'"),
    (("add", "Kitchen", "ann", "--role", "viewer"), "at least one Owner"),
    (("add", "Kitchen", "bob"), "--role"),
    (("remove", "Kitchen"), "invalid choice: 'remove'"),
])
def test_clear_errors(users, args, message) -> None:  # type: ignore[no-untyped-def]
    run("workspace", "create", "Kitchen", "--owner", "ann")
    before = list(Membership.objects.values_list("workspace_id", "user_id", "role").order_by("id"))
    with pytest.raises(CommandError, match=message):
        run("workspace", *args)
    assert list(Membership.objects.values_list("workspace_id", "user_id", "role").order_by("id")) == before
    assert not get_user_model().objects.filter(username="nobody").exists()


def test_create_user_creates_an_account_without_a_usable_password(users) -> None:  # type: ignore[no-untyped-def]
    out = run("workspace", "create", "Lab", "--owner", "newcomer", "--create-user")
    assert "Created user 'newcomer' (unusable password)" in out
    out = run("workspace", "add", "Lab", "helper", "--role", "labeler", "--create-user")
    assert "Created user 'helper'" in out and "Added 'helper' to 'Lab' as Labeler" in out
    for name, role in (("newcomer", "owner"), ("helper", "labeler")):
        user = get_user_model().objects.get(username=name)
        assert not user.has_usable_password()
        assert Membership.objects.get(workspace__name="Lab", user=user).role == role
        assert user.personal_workspace  # every user has one, created with the account


def test_apikeys_username_prints_key_1_of_the_personal_workspace_as_before(users) -> None:  # type: ignore[no-untyped-def]
    make_project(users["ann"], name="Ann's")
    out = run("apikeys", "ann")
    lines = out.splitlines()
    assert [line.split("=")[0] for line in lines] == ["TRAINING_KEY", "PREDICTION_KEY"]
    keys = keys_of(workspace=personal_workspace_ensure(user=users["ann"]))
    assert keys_printed(out) == {"TRAINING_KEY": keys["training1"], "PREDICTION_KEY": keys["prediction1"]}
    assert run("apikeys", "ann") == out  # stable: printing does not regenerate
    assert projects_seen(keys["training1"]) == ["Ann's"]

    # A new name creates the user (as before), with keys.
    out = run("apikeys", "zed")
    assert set(keys_printed(out)) == {"TRAINING_KEY", "PREDICTION_KEY"}
    assert not get_user_model().objects.get(username="zed").has_usable_password()


def test_apikeys_workspace_prints_its_key_1_owners_both_trainers_prediction_only(users) -> None:  # type: ignore[no-untyped-def]
    run("workspace", "create", "Kitchen", "--owner", "ann")
    for username, role in (("bob", "trainer"), ("cy", "labeler"), ("dee", "viewer")):
        run("workspace", "add", "Kitchen", username, "--role", role)
    kitchen = Workspace.objects.get(name="Kitchen")
    make_project(users["ann"], name="Team project", workspace=kitchen)
    make_project(users["ann"], name="Ann's own")
    keys = keys_of(workspace=kitchen)

    owner = keys_printed(run("apikeys", "ann", "--workspace", "Kitchen"))
    assert owner == {"TRAINING_KEY": keys["training1"], "PREDICTION_KEY": keys["prediction1"]}
    assert projects_seen(owner["TRAINING_KEY"]) == ["Team project"]  # the workspace's, not Ann's personal ones
    assert keys_printed(run("apikeys", "bob", "--workspace", "Kitchen")) == {"PREDICTION_KEY": keys["prediction1"]}
    for username, role in (("cy", "labeler"), ("dee", "viewer")):
        with pytest.raises(CommandError, match=f"is a {role} of 'Kitchen': only Owners and Trainers get keys"):
            run("apikeys", username, "--workspace", "Kitchen")
    with pytest.raises(CommandError, match="'eve' is not a member of workspace 'Kitchen'"):
        run("apikeys", "eve", "--workspace", "Kitchen")
    with pytest.raises(CommandError, match="No workspace named 'Attic'"):
        run("apikeys", "ann", "--workspace", "Attic")


def test_the_real_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What a shell script sees: --help says what happens to unknown users; errors go to stderr with status 1."""
    help_text = subprocess.run([sys.executable, "manage.py", "workspace", "add", "--help"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
    assert "--role {owner,trainer,labeler,viewer}" in help_text
    assert "unusable password" in help_text
    failed = subprocess.run([sys.executable, "manage.py", "workspace", "add", "X", "u", "--role", "boss"], cwd=ROOT,
                            capture_output=True, text=True)
    assert failed.returncode != 0 and "invalid choice: 'boss'" in failed.stderr
