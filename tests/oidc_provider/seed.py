"""Prepares the test provider's database: ``python -m tests.oidc_provider.seed SPEC.json`` migrates, then creates
the users and the one client application the spec names (see tests/e2e/test_sso.py)."""

from __future__ import annotations

import json
import os
import sys


def main(spec_path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc_provider.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from oauth2_provider.models import Application

    spec = json.loads(open(spec_path).read())
    call_command("migrate", interactive=False, verbosity=0)
    for user in spec["users"]:
        get_user_model().objects.create_user(**user)
    app = spec["application"]
    Application.objects.create(
        name="Tagsight",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=app["redirect_uri"],
        skip_authorization=True,
        algorithm=Application.RS256_ALGORITHM,
    )


if __name__ == "__main__":
    main(sys.argv[1])
