"""`make serve`: migrate, create the first administrator, start a Celery worker and the web server.

Stays in the foreground until Ctrl-C, then stops the worker too. Everything lives under
TAGSIGHT_DATA_DIR (default ./data). Set TAGSIGHT_ADMIN_USERNAME / TAGSIGHT_ADMIN_PASSWORD to choose
the administrator's credentials; otherwise a password is generated and printed once.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def web_command(port: str, *, host: str = "0.0.0.0") -> list[str]:
    """The gunicorn command line (settings in gunicorn.conf.py: request-line limits)."""
    return [
        str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "--config", str(ROOT / "gunicorn.conf.py"),
        "--bind", f"{host}:{port}", "--workers", os.environ.get("WEB_CONCURRENCY", "2"), "--threads", "4",
        "--timeout", "120", "--access-logfile", "-",
    ]


def main() -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)

    users = get_user_model()
    if not users.objects.filter(is_superuser=True).exists():
        username = os.environ.get("TAGSIGHT_ADMIN_USERNAME", "admin")
        password = os.environ.get("TAGSIGHT_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        shown = password if "TAGSIGHT_ADMIN_PASSWORD" not in os.environ else "(from TAGSIGHT_ADMIN_PASSWORD)"
        print(f"Created administrator  username: {username}  password: {shown}", flush=True)

    port = os.environ.get("PORT", "8000")
    bin_dir = Path(sys.executable).parent
    worker = subprocess.Popen(
        [str(bin_dir / "celery"), "-A", "portal", "worker", "-Q", "training,default",
         "--concurrency", os.environ.get("TAGSIGHT_WORKER_CONCURRENCY", "1"), "--loglevel", "INFO",
         "--hostname", f"tagsight@{os.uname().nodename}"],
        cwd=ROOT,
    )
    web = subprocess.Popen(web_command(port), cwd=ROOT)
    print(f"\nTagsight is running: open http://localhost:{port}/  (Ctrl-C to stop)\n", flush=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and worker.poll() is None and web.poll() is None:
        time.sleep(0.5)
    for proc in (web, worker):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in (web, worker):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
