"""Run in its own process against an installation (its environment picks the profile): predict one image through
the Prediction API and list projects through the Training API with the given keys, add a user (ids must not
collide with restored ones); print the answers as JSON.

    python -m tests.datasets.backup.probe PROJECT_ID PUBLISH_NAME TRAINING_KEY PREDICTION_KEY IMAGE_PATH
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(project_id: str, publish_name: str, training_key: str, prediction_key: str, image: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    predicted = client.post(
        f"/customvision/v3.0/prediction/{project_id}/detect/iterations/{publish_name}/image/nostore",
        data=Path(image).read_bytes(), content_type="application/octet-stream", HTTP_PREDICTION_KEY=prediction_key,
    )
    projects = client.get("/customvision/v3.3/training/projects", HTTP_TRAINING_KEY=training_key)
    refused = client.get("/customvision/v3.3/training/projects", HTTP_TRAINING_KEY="not-a-key")
    user = get_user_model().objects.create_user(username="after-restore", password="after-restore-123")
    print(json.dumps({
        "prediction": [predicted.status_code, {k: predicted.json()[k] for k in ("iteration", "predictions")}],
        "projects": [projects.status_code, [p["id"] for p in projects.json()]],
        "refused": refused.status_code,
        "new_user_workspaces": user.memberships.count(),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
