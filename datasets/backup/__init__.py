"""Backup and disaster recovery: ``manage.py backup OUT`` and ``manage.py restore IN`` (see services)."""
