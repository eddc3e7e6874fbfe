"""gunicorn settings of Tagsight's web tier: scripts/serve.py passes this file; gunicorn also reads it by itself
when started in this folder (its default ``--config`` is ./gunicorn.conf.py).

Every refusal of the Azure-compatible API is JSON ``{"code", "message"}`` that the SDKs can read. gunicorn's
own refusals are HTML pages (414 for a request line over 4094 bytes by default), so the request line is left
to Django: a URL carrying one over-long tag or project name reaches the API, which refuses the name with
Azure's code. gunicorn accepts at most 8190 here unless the limit is switched off (0), and one 10,000-character
name in a query string is already past that. With 0 its C parser still stops at 1 MB; put a reverse proxy with
its own limits in front of a server exposed to the internet (README: HTTPS).
"""

from __future__ import annotations

limit_request_line = 0  # unlimited: let Django (and the API's Azure errors) see long URLs
limit_request_field_size = 8190  # one header line: keys, cookies and content types fit; gunicorn's default
