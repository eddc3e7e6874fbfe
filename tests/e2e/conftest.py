"""Shared browser fixtures: Debian's Chromium driven by Playwright against live_server, and signed-in pages.

Reuse them from any e2e test:  ``def test_x(live_server, logged_in_page): logged_in_page.goto(live_server.url + "/")``.
Mark browser tests ``@pytest.mark.browser`` and ``@pytest.mark.django_db(transaction=True)`` (live_server's
thread must see the test's rows). Set TAGSIGHT_SHOTS_DIR to keep screenshots taken with ``screenshot(name)``.
Every page a test opens is checked with axe-core (tests/e2e/axe.py): serious or critical WCAG 2.1 A/AA findings
fail the test; ``axe_check(page)`` checks a state the test reaches without a page load (an open dialog).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import axe

# Playwright's sync API runs an event loop in this thread; Django's ORM must still be usable from it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("TAGSIGHT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole session (never `playwright install`: Debian's chromium)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Page actions that act on what htmx binds: htmx processes the document at DOMContentLoaded, which waits for the
# deferred module scripts (site.js, a page's own module). An element can be visible (wait_for_selector succeeds)
# while the page's modules are still loading on a busy machine, and a click on an hx-post button then does
# nothing. These wait for the current document's DOMContentLoaded first (immediate once it has fired).
_HTMX_BOUND_ACTIONS = ("click", "dblclick", "fill", "check", "uncheck", "press", "select_option", "set_input_files")


def _after_dom_content_loaded(page: Any) -> None:
    for name in _HTMX_BOUND_ACTIONS:
        action = getattr(page, name)

        def waiting(*args: Any, _action: Any = action, **kwargs: Any) -> Any:
            page.wait_for_load_state("domcontentloaded")
            return _action(*args, **kwargs)

        setattr(page, name, waiting)


@contextlib.contextmanager
def _checked_page(browser: Any, nodeid: str) -> Iterator[Any]:
    """A fresh page in its own context (no cookies shared); fails loudly on JS errors and on serious/critical
    accessibility findings (axe-core) in any page it showed."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    findings = axe.install(context)
    page = context.new_page()
    axe.follow(page, findings)
    page.set_default_timeout(15_000)
    _after_dom_content_loaded(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    axe.check_now(page)
    axe.check_missed(page, findings)
    context.close()
    findings.write_report(nodeid)
    assert not errors, f"JavaScript errors on the page: {errors}"
    if findings.failing():
        pytest.fail(findings.message(), pytrace=False)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page in its own context, checked as ``_checked_page`` says."""
    with _checked_page(browser, request.node.nodeid) as page:
        yield page


@pytest.fixture
def more_pages(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[[], Any]]:
    """``more_pages()`` opens another checked page in a context of its own: a second person at the same time."""
    opened = itertools.count(2)
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(_checked_page(browser, f"{request.node.nodeid}[page {next(opened)}]"))


def axe_check(page: Any) -> None:
    """Checks the page now, as it looks (e.g. with a dialog open); findings fail the test at teardown."""
    axe.check_now(page)


def sign_in(page: Any, base_url: str, username: str, password: str) -> Any:
    """Sign in through the real login form; returns the page on the project list."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    return page


@pytest.fixture
def logged_in_page(page: Any, live_server: Any, owner: Any) -> Any:
    """A page signed in as the ``owner`` persona (tests/conftest.py) through the login form."""
    return sign_in(page, live_server.url, "owner", "owner-pass-123")


@pytest.fixture
def login_as(page: Any, live_server: Any) -> Callable[..., Any]:
    """Sign any user in without the form (session cookie), for tests that are not about signing in.

    ``login_as(user)`` signs in the ``page`` fixture; ``login_as(user, on=other)`` another page (``more_pages``)."""
    from django.conf import settings
    from django.test import Client

    def _login(user: Any, on: Any = None) -> Any:
        target = page if on is None else on
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        target.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
        return target

    return _login


@pytest.fixture
def screenshot(page: Any) -> Callable[..., None]:
    """``screenshot("name")`` saves a full-page PNG of ``page`` (or ``on=other``) under $TAGSIGHT_SHOTS_DIR
    (nothing when unset)."""
    folder = os.environ.get("TAGSIGHT_SHOTS_DIR")

    def _shot(name: str, on: Any = None) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (page if on is None else on).screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    return _shot
