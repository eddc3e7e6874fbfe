# Tagsight: two commands on a fresh machine with Python 3.11.
#   make serve  - set up .venv, migrate, create the first admin, run the portal + a Celery worker
#   make test   - set up .venv (and Debian's chromium for browser tests), run the whole test suite
#   make lint   - ruff (the configured rules) and mypy (strict, with django-stubs); both must be clean
.PHONY: serve test venv chromium lint

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
PORT ?= 8000

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[worker,test]'
	touch $(STAMP)

venv: $(STAMP)

serve: $(STAMP)
	PORT=$(PORT) $(VENV)/bin/python scripts/serve.py

# Browser tests drive Debian's chromium through Playwright (never `playwright install`).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

test: $(STAMP) chromium
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy portal workspaces projects labeling training predictions health notifications datasets scripts
