"""The ML engine never imports Django (it runs alone from the shell and in the worker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_training_ml_does_not_import_django() -> None:
    code = (
        "import sys, training.ml, training.ml.classification, training.ml.export, training.ml.__main__; "
        "bad = [m for m in sys.modules if m == 'django' or m.startswith(('django.', 'projects', 'labeling')) "
        "or m in ('training.models', 'training.services', 'training.tasks', 'training.views', 'training.api')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
