"""Shared helpers of the benchmark scripts (paths, a free port, Django on a throw-away data dir)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup_django(data_dir: str) -> None:
    """Configure Django in this process on the embedded profile under ``data_dir`` and migrate."""
    os.environ["TAGSIGHT_DATA_DIR"] = data_dir
    os.environ.pop("DATABASE_URL", None)
    os.environ["STORAGE_BACKEND"] = "filesystem"
    # No collectstatic in a throw-away data dir: plain static storage (production uses the manifest).
    os.environ["STATICFILES_STORAGE_BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
