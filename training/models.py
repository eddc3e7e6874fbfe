"""Training models: iterations and their performance, and worker heartbeats."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """Each Celery worker writes its heartbeat here; /healthz and the lost-worker reaper read it."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField(default=0)
    queues = models.CharField(max_length=255, default="")
    started = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()
