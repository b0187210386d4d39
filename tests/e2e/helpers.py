"""Small page helpers shared by the e2e journeys."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from services.certifiers import china_today  # noqa: F401  (re-exported for the journeys)
from services.credit_code import make


def path_of(page) -> str:
    return urlsplit(page.url).path


def click_and_wait(page, locator):
    """Click and wait for the navigation it starts; return the response it landed on."""
    with page.expect_navigation() as navigation:
        locator.click()
    return navigation.value


def no_browser_errors(page, *, allowed_statuses=(), console: bool = False) -> None:
    """No uncaught script error, no CSP violation, no 4xx/5xx response except allowed_statuses;
    with console=True, no console error either."""
    assert page.events.page_errors == []
    assert page.events.csp_errors() == []
    if console:
        assert page.events.console_errors() == []
    assert [s for s, _url in page.events.bad_responses if s not in allowed_statuses] == []


def unique_credit_code(organization_code: str | None = None) -> str:
    """A valid Unified Social Credit Code registered in Shenzhen (440300); the 9-character
    organization code is unique per call unless given."""
    code = organization_code or f"{uuid.uuid4().int % 10**9:09d}"
    return make("91440300" + code)
