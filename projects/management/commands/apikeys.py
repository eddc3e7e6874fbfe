"""`manage.py apikeys USERNAME`: create the user (if new) and their API keys (if missing), print them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from projects.accounts import user_with_keys


class Command(BaseCommand):
    help = "Create USERNAME (if new) and their Training/Prediction keys (if missing); print them as KEY=value lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        _, keys, _ = user_with_keys(username=username)
        self.stdout.write(f"TRAINING_KEY={keys.training_key}")
        self.stdout.write(f"PREDICTION_KEY={keys.prediction_key}")
