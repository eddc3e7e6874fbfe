"""`manage.py workspace create NAME --owner USER` and `manage.py workspace add NAME USER --role ROLE`: scripting.

As `az` does for an Azure resource: create a team workspace and give people roles in it, then read its keys
with `manage.py apikeys USER --workspace NAME`. Unknown users are refused unless --create-user is given (then
created with an unusable password, as `manage.py apikeys` does): a mistyped name should not quietly become a
member.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workspaces.errors import WorkspaceError
from workspaces.models import Membership, Role
from workspaces.services import member_add, user_get_or_create, workspace_by_name, workspace_create

CREATE_USER_HELP = (
    "create the user if there is none of that name, with an unusable password (they sign in once an "
    "administrator sets one or through password reset); without it an unknown user is an error"
)


class Command(BaseCommand):
    help = "Create team workspaces and add members with a role (owner, trainer, labeler, viewer)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,add}")
        create = sub.add_parser("create", help="create a team workspace with USER as its first Owner")
        create.add_argument("name", help="the workspace's name (unique among team workspaces)")
        create.add_argument("--owner", required=True, help="username of its first Owner")
        create.add_argument("--create-user", action="store_true", help=CREATE_USER_HELP)
        add = sub.add_parser("add", help="add USER to workspace NAME with a role (or change their role)")
        add.add_argument("name", help="the workspace's name")
        add.add_argument("username")
        add.add_argument("--role", required=True, choices=Role.values, help="what the member may do")
        add.add_argument("--create-user", action="store_true", help=CREATE_USER_HELP)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            if action == "create":
                self._create(name=options["name"], owner=options["owner"], create_user=options["create_user"])
            else:
                self._add(name=options["name"], username=options["username"], role=options["role"],
                          create_user=options["create_user"])
        except WorkspaceError as exc:
            raise CommandError(exc.message) from exc

    def _user(self, username: str, *, create: bool) -> Any:
        if create:
            user, created = user_get_or_create(username=username)
            if created:
                self.stdout.write(f"Created user {username!r} (unusable password).")
            return user
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r} (--create-user creates one).")
        return user

    def _create(self, *, name: str, owner: str, create_user: bool) -> None:
        workspace = workspace_create(name=name, owner=self._user(owner, create=create_user))
        self.stdout.write(f"Created workspace {workspace.name!r} ({workspace.id}) with Owner {owner!r}.")

    def _add(self, *, name: str, username: str, role: str, create_user: bool) -> None:
        workspace = workspace_by_name(name)
        user = self._user(username, create=create_user)
        was = Membership.objects.filter(workspace=workspace, user=user).values_list("role", flat=True).first()
        member_add(workspace=workspace, user=user, role=role)
        label = Role(role).label
        if was is None:
            self.stdout.write(f"Added {username!r} to {workspace.name!r} as {label}.")
        elif was == role:
            self.stdout.write(f"{username!r} already is {label} of {workspace.name!r}.")
        else:
            self.stdout.write(f"{username!r} is now {label} of {workspace.name!r} (was {Role(was).label}).")
