"""Run manage.py commands as separate processes against the test run's database and media (or a fresh one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.worker import ROOT, test_database_url

# What selects a profile: cleared for a fresh embedded installation, so only TAGSIGHT_DATA_DIR decides.
PROFILE_VARS = ("DATABASE_URL", "MEDIA_ROOT", "STORAGE_BACKEND", "S3_BUCKET", "S3_ENDPOINT_URL", "S3_REGION",
                "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_PREFIX", "CELERY_BROKER_URL", "TEST_DATABASE_NAME")


def this_installation(media_root: Path) -> dict[str, str]:
    """The environment of the installation the test runs against (its database, its media folder)."""
    return {**os.environ, "DATABASE_URL": test_database_url(), "MEDIA_ROOT": str(media_root)}


def embedded_installation(data_dir: Path) -> dict[str, str]:
    """A fresh embedded installation (SQLite + local media) under its own data directory."""
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARS}
    return {**env, "TAGSIGHT_DATA_DIR": str(data_dir)}


def manage(
    *args: str, env: dict[str, str], check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done
