#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line

    from portal.env import ensure_data_dir

    ensure_data_dir()  # the embedded profile's SQLite file needs its folder, even on a fresh checkout
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
