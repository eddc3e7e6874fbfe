"""Tagsight's Django project package: configuration and wiring only."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
