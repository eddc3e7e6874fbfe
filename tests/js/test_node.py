"""The browser's pure modules are tested in JavaScript, by node's own test runner: tests/js/*.test.mjs.

Without node the test is skipped locally, but it fails under CI (CI or TAGSIGHT_REQUIRE_NODE set), so the
JavaScript tests can't silently stop running there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def test_the_javascript_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("TAGSIGHT_REQUIRE_NODE") == "1":
            pytest.fail("node is not installed, and CI must run the JavaScript tests in tests/js/")
        pytest.skip("node is not installed: the JavaScript tests in tests/js/ did not run")
    files = sorted(str(p.relative_to(ROOT)) for p in HERE.glob("*.test.mjs"))
    assert files
    result = subprocess.run([node, "--test", *files], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
