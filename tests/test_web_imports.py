"""The web tier starts without the ML runtimes: torch and onnxruntime load in a web process only when a prediction
needs them, never because a view module imports them (each gunicorn worker would carry them from its first
request, and start seconds later)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_web_tier_imports_no_ml_runtime() -> None:
    code = (
        "import os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings'); "
        "from portal.wsgi import application; "
        "from django.urls import get_resolver; "
        "_ = get_resolver().reverse_dict; "  # walks every included URLconf, importing every view module
        "bad = [m for m in ('torch', 'torchvision', 'onnxruntime', 'onnx', 'cleanlab', 'pandas') if m in sys.modules]; "
        "assert 'health.datahealth' in sys.modules and 'training.views' in sys.modules, 'the views were not loaded'; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
