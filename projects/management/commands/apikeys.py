"""`manage.py apikeys USERNAME [--workspace NAME]`: print a workspace's Key 1 of each kind as KEY=value lines.

Without --workspace: the user's personal workspace (the user is created, with an unusable password, if new).
With it: the named workspace, of which the user must be an Owner (training key) or Trainer (prediction key only).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workspaces.access import GRANTS, Need
from workspaces.errors import WorkspaceError
from workspaces.models import Membership
from workspaces.services import keys_of, personal_workspace_ensure, user_get_or_create, workspace_by_name


class Command(BaseCommand):
    help = "Print TRAINING_KEY=… and PREDICTION_KEY=… (Key 1) of USERNAME's personal workspace or --workspace NAME."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--workspace", help="a workspace the user belongs to (default: their personal one)")

    def handle(self, *args: Any, username: str, workspace: str | None = None, **options: Any) -> None:
        try:
            if workspace is None:
                user, _ = user_get_or_create(username=username)
                found = personal_workspace_ensure(user=user)
                grants = GRANTS["owner"]
            else:
                found = workspace_by_name(workspace)
                member = Membership.objects.filter(workspace=found, user__username=username)
                role = member.values_list("role", flat=True).first()
                if role is None:
                    raise CommandError(f"{username!r} is not a member of workspace {workspace!r}.")
                grants = GRANTS[role]
        except WorkspaceError as exc:
            raise CommandError(exc.message) from exc
        if Need.TRAIN not in grants:
            raise CommandError(f"{username!r} is a {role} of {workspace!r}: only Owners and Trainers get keys.")
        keys = keys_of(workspace=found)
        if Need.OWN in grants:
            self.stdout.write(f"TRAINING_KEY={keys['training1']}")
        self.stdout.write(f"PREDICTION_KEY={keys['prediction1']}")
