"""A real OpenID Connect provider for tests: a tiny Django project on django-oauth-toolkit, run as its own process."""
