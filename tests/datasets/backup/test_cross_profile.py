"""Restore across profiles, on the production profile run of .ci/run (PostgreSQL + S3 on moto):

production (the test run's PostgreSQL database and S3 bucket) -> backup -> a fresh embedded installation
(SQLite + local media) -> backup -> a fresh PostgreSQL database and a fresh S3 bucket. The published iteration
predicts identically at every stop, the keys work, and new rows get fresh ids (PostgreSQL sequences reset).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.datasets.backup.helpers import embedded_installation, manage, this_installation
from tests.factories import DATASETS
from tests.worker import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def production() -> None:
    if connection.vendor != "postgresql" or os.environ.get("STORAGE_BACKEND") != "s3":
        pytest.skip("runs on the production profile (PostgreSQL + S3): .ci/run's integration part")


@pytest.fixture
def fresh_production(production) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The environment of an empty production installation: a new database on the same server, a new bucket."""
    import boto3
    import psycopg

    name = f"tagsight_restore_{uuid.uuid4().hex[:8]}"
    params = connection.settings_dict
    server = {"host": params["HOST"], "port": params["PORT"] or 5432, "user": params["USER"],
              "password": params["PASSWORD"]}
    with psycopg.connect(dbname=params["NAME"], autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    bucket = name.replace("_", "-")
    boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], aws_access_key_id=os.environ["S3_ACCESS_KEY_ID"],
                 aws_secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
                 region_name=os.environ.get("S3_REGION", "us-east-1")).create_bucket(Bucket=bucket)
    url = f"postgres://{server['user']}:{server['password']}@{server['host']}:{server['port']}/{name}"
    yield {**os.environ, "DATABASE_URL": url, "S3_BUCKET": bucket}
    with psycopg.connect(dbname=params["NAME"], autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _probe(env: dict[str, str], *args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "tests.datasets.backup.probe", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _profile(archive: Path) -> dict[str, str]:
    with zipfile.ZipFile(archive) as zf:
        return json.loads(zf.read("manifest.json"))["profile"]  # type: ignore[no-any-return]


def test_production_to_embedded_to_production(fresh_production, owner, settings, tmp_path, client):  # type: ignore[no-untyped-def]
    from tests.predictions.builders import tiny_fork_detector
    from training.services import iteration_publish
    from workspaces.services import personal_keys

    project, iteration = tiny_fork_detector(owner, tmp_path, per_tag=2)
    iteration_publish(iteration=iteration, publish_name="forks")
    keys = personal_keys(user=owner)
    photo = next((DATASETS / "azure-quickstart" / "detection").rglob("*.jpg"))
    before = client.post(f"/customvision/v3.0/prediction/{project.id}/detect/iterations/forks/image/nostore",
                         data=photo.read_bytes(), content_type="application/octet-stream",
                         HTTP_PREDICTION_KEY=keys.prediction_key)
    assert before.status_code == 200, before.content[:300]
    answer = {k: before.json()[k] for k in ("iteration", "predictions")}
    expected = {"prediction": [200, answer], "projects": [200, [str(project.id)]], "refused": 401,
                "new_user_workspaces": 1}
    probe_args = (str(project.id), "forks", keys.training_key, keys.prediction_key, str(photo))

    # Production -> embedded: pg_dump's snapshot and the S3 files, into SQLite and a local folder.
    from_production = tmp_path / "production.zip"
    manage("backup", str(from_production), env=this_installation(settings.MEDIA_ROOT))
    assert _profile(from_production) == {"database": "postgresql", "storage": "S3Storage"}
    assert "database/native.pgdump" in zipfile.ZipFile(from_production).namelist()
    embedded = embedded_installation(tmp_path / "embedded")
    manage("restore", str(from_production), env=embedded)

    # Embedded -> production: the path a growing team takes.
    from_embedded = tmp_path / "embedded.zip"
    manage("backup", str(from_embedded), env=embedded)
    assert _profile(from_embedded) == {"database": "sqlite", "storage": "FileSystemStorage"}
    manage("restore", str(from_embedded), env=fresh_production)

    assert _probe(embedded, *probe_args) == expected
    assert _probe(fresh_production, *probe_args) == expected
