"""User journeys through the real pages, in a real browser, against a live gunicorn."""

from __future__ import annotations

import re
import uuid
from pprint import pformat

import pytest
from playwright.sync_api import expect

from services.credit_code import ALPHABET
from tests.e2e.helpers import path_of, unique_credit_code

pytestmark = pytest.mark.e2e

DEMO_LOGINS = {  # `flask setup` creates these; the password is "outletpool-demo"
    "operator": "operator@outletpool.demo",
    "manufacturer": "maker@outletpool.demo",
    "provider": "provider@outletpool.demo",
    "certifier": "certifier@outletpool.demo",
}
PENDING_DEMO_ORG = "捷运物流仓储有限公司"
SIGNUP_ADDRESS = "广东省深圳市南山区科技园"
CJK = re.compile(r"[\u4e00-\u9fff]")


def wrong_check_character(code: str) -> str:
    wrong = next(ch for ch in ALPHABET if ch != code[-1])
    return code[:-1] + wrong


def fill_signup(page, *, credit_code: str, email: str, legal_name: str) -> None:
    form = page.get_by_test_id("signup-form")
    form.locator("select[name=kind]").select_option("manufacturer")
    form.locator("input[name=legal_name]").fill(legal_name)
    form.locator("input[name=english_name]").fill("E2E Motors Co., Ltd.")
    form.locator("input[name=credit_code]").fill(credit_code)
    form.locator("input[name=address]").fill(SIGNUP_ADDRESS)
    form.locator("input[name=contact_name]").fill("张测试")
    form.locator("input[name=contact_phone]").fill("0755-12345678")
    form.locator("input[name=name]").fill("张测试")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill("e2e-password-123")


def submit(page, form_testid: str) -> None:
    with page.expect_navigation():
        page.get_by_test_id(form_testid).locator("[type=submit]").click()


# --------------------------------------------------------------------------- (a) sign-up


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_signup_lands_on_dashboard_pending_verification(page, locale, screenshot):
    suffix = uuid.uuid4().hex[:8]
    organization_code = "123456789" if locale == "en-US" else None
    page.goto("/signup")
    expect(page.get_by_test_id("signup-form")).to_be_visible()
    fill_signup(page, credit_code=unique_credit_code(organization_code),
                email=f"maker-{suffix}@e2e.example.com", legal_name=f"深圳测试汽车有限公司{suffix}")
    screenshot(page, "signup-filled")
    submit(page, "signup-form")

    assert path_of(page) == "/dashboard", page.locator("main").inner_text()
    status = page.get_by_test_id("verification-status")
    expect(status).to_have_class(re.compile(r"\bbadge-pending\b"))
    if locale == "en-US":
        expect(status).to_have_text("Pending verification")
    else:
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(status).to_have_text(CJK)
    expect(page.locator("main")).to_contain_text(f"深圳测试汽车有限公司{suffix}")
    expect(page.get_by_test_id("logout")).to_be_visible()
    screenshot(page, "dashboard-pending")


# --------------------------------------------------------------------------- (b) bad code


@pytest.mark.parametrize("locale", ["en-US"])
def test_signup_wrong_check_character_keeps_typed_data(page, locale, screenshot):
    suffix = uuid.uuid4().hex[:8]
    valid = unique_credit_code()
    wrong = wrong_check_character(valid)
    email = f"typo-{suffix}@e2e.example.com"
    legal_name = f"深圳错码汽车有限公司{suffix}"

    page.goto("/signup")
    fill_signup(page, credit_code=wrong, email=email, legal_name=legal_name)
    with page.expect_navigation() as navigation:
        page.get_by_test_id("signup-form").locator("[type=submit]").click()
    assert navigation.value.status == 422
    assert path_of(page) == "/signup"

    error = page.locator("small.field-error[data-field=credit_code]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("check character")
    expect(error).to_contain_text(valid[-1])  # says which character was expected
    form = page.get_by_test_id("signup-form")
    expect(form.locator("input[name=credit_code]")).to_have_attribute("aria-invalid", "true")
    # Everything typed is still there (the password is, by design, not echoed back).
    expect(form.locator("input[name=credit_code]")).to_have_value(wrong)
    expect(form.locator("input[name=legal_name]")).to_have_value(legal_name)
    expect(form.locator("input[name=address]")).to_have_value(SIGNUP_ADDRESS)
    expect(form.locator("input[name=english_name]")).to_have_value("E2E Motors Co., Ltd.")
    expect(form.locator("input[name=email]")).to_have_value(email)
    expect(form.locator("input[name=name]")).to_have_value("张测试")
    expect(form.locator("select[name=kind]")).to_have_value("manufacturer")
    screenshot(page, "signup-wrong-credit-code")


# --------------------------------------------------------------------------- (c) sign in/out


@pytest.mark.parametrize("locale", ["en-US"])
def test_demo_login_signs_in_and_out(page, locale, sign_in, screenshot):
    sign_in(page, DEMO_LOGINS["manufacturer"])
    expect(page.get_by_test_id("verification-status")).to_have_class(
        re.compile(r"\bbadge-verified\b"))
    expect(page.locator("main")).to_contain_text("华南新能源汽车有限公司")
    screenshot(page, "dashboard-signed-in")

    with page.expect_navigation():
        page.get_by_test_id("logout").click()
    assert path_of(page) == "/"
    expect(page.get_by_test_id("logout")).to_have_count(0)
    expect(page.locator("header nav a[href='/login']")).to_be_visible()

    page.goto("/dashboard")  # signed out: the dashboard asks for a sign-in again
    assert path_of(page) == "/login"


def test_wrong_password_is_refused(page):
    page.goto("/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=email]").fill(DEMO_LOGINS["certifier"])
    form.locator("input[name=password]").fill("not-the-password")
    with page.expect_navigation() as navigation:
        form.locator("[type=submit]").click()
    assert navigation.value.status == 401
    expect(page.locator(".form-errors")).to_be_visible()
    expect(page.get_by_test_id("logout")).to_have_count(0)


# --------------------------------------------------------------------------- (d) language


@pytest.mark.parametrize(("locale", "html_lang"), [
    ("zh-CN", "zh-CN"),
    ("zh-Hans-CN", "zh-CN"),
    ("en-US", "en"),
])
def test_default_language_follows_the_browser(page, locale, html_lang, screenshot):
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", html_lang)
    sign_in_link = page.locator("header nav a[href='/login']")
    if html_lang == "zh-CN":
        expect(sign_in_link).to_have_text(CJK)
        expect(sign_in_link).not_to_have_text("Sign in")
        expect(page.get_by_test_id("lang-en")).to_be_visible()
    else:
        expect(sign_in_link).to_have_text("Sign in")
        expect(page.get_by_test_id("lang-zh")).to_be_visible()
    screenshot(page, f"home-{locale}")


def test_language_switch_flips_and_persists(new_page, screenshot):
    page = new_page("en-US")
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    with page.expect_navigation():
        page.get_by_test_id("lang-zh").click()
    assert path_of(page) == "/login"  # stays on the page it was switched from
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("header nav a[href='/signup']")).to_have_text(CJK)

    page.goto("/signup")  # the choice outlives the browser's Accept-Language
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_test_id("signup-form").locator("[type=submit]")).not_to_have_value(
        "Create account")
    screenshot(page, "signup-after-switch")

    with page.expect_navigation():
        page.get_by_test_id("lang-en").click()
    assert path_of(page) == "/signup"
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("header nav a[href='/login']")).to_have_text("Sign in")


# --------------------------------------------------------------------------- (e) operator


@pytest.mark.parametrize("locale", ["zh-CN"])
def test_operator_verifies_pending_organization(page, locale, sign_in, screenshot):
    sign_in(page, DEMO_LOGINS["operator"])
    page.goto("/operator/verifications")
    queue = page.get_by_test_id("queue")
    row = queue.locator("tbody tr", has_text=PENDING_DEMO_ORG)
    expect(row).to_have_count(1)
    screenshot(page, "verification-queue")

    with page.expect_navigation():
        row.locator("a[href*='/operator/organizations/']").click()
    match = re.fullmatch(r"/operator/organizations/(\d+)", path_of(page))
    assert match, page.url
    organization_id = match.group(1)
    expect(page.locator("h1")).to_have_text(PENDING_DEMO_ORG)

    form = page.get_by_test_id("verification-form")
    form.locator("select[name=status]").select_option("verified")
    screenshot(page, "review")
    with page.expect_navigation():
        form.locator("[type=submit]").click()
    assert path_of(page) == "/operator/verifications"
    expect(page.locator(".flash-success")).to_contain_text(PENDING_DEMO_ORG)
    expect(page.get_by_test_id("queue").locator("tbody tr", has_text=PENDING_DEMO_ORG)) \
        .to_have_count(0)

    page.goto(f"/operator/organizations/{organization_id}")
    expect(page.get_by_test_id("status")).not_to_have_text(re.compile("Pending|待"))

    page.goto("/operator/audit")
    entry = page.get_by_test_id("audit-table").locator(
        "tbody tr", has=page.locator("code", has_text=re.compile(r"^organization\.verified$")),
    ).filter(has=page.locator(f"td:nth-child(4):text-is('{organization_id}')"))
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(f"organization {organization_id}")
    screenshot(page, "audit-log")


# --------------------------------------------------------------------------- (f) docs, CSP


def _off_site(requests: list[str], base_url: str) -> list[str]:
    return [url for url in requests
            if not url.startswith(base_url + "/") and not url.startswith(("data:", "blob:"))]


@pytest.mark.parametrize("locale", ["en-US"])
def test_api_docs_render_from_vendored_assets(page, locale, base_url, screenshot):
    page.goto("/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("OutletPool API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    page.wait_for_load_state("networkidle")

    events = page.events
    assert any(url.endswith("/static/vendor/swagger-ui/swagger-ui-bundle.js")
               for url in events.requests)
    assert any("/api/v1/openapi.json" in url for url in events.requests)
    assert _off_site(events.requests, base_url) == [], "requests left 127.0.0.1"
    assert events.csp_errors() == []
    assert events.page_errors == []
    assert events.bad_responses == []
    screenshot(page, "api-docs")


NORMAL_PAGES_ANONYMOUS = ["/", "/login", "/signup", "/password/forgot"]
NORMAL_PAGES_OPERATOR = ["/dashboard", "/organization/tokens", "/operator/verifications",
                         "/operator/audit"]
NORMAL_PAGES_MEMBER = ["/dashboard", "/organization", "/organization/members",
                       "/organization/tokens"]


def _header_links(page) -> list[str]:
    hrefs = page.locator("header nav a[href^='/']").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    return list(dict.fromkeys(href for href in hrefs if not href.startswith("/lang/")))


class PageChecker:
    """Visits pages and notes anything wrong: status, CSP, console/page errors, 4xx/5xx, off-site."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.problems: dict[str, dict] = {}
        self.visited: set[tuple[str, str]] = set()

    def visit(self, path: str, who: str) -> None:
        if (who, path) in self.visited:
            return
        self.visited.add((who, path))
        page = self.page
        page.events.clear()
        response = page.goto(path)
        page.wait_for_load_state("networkidle")
        found = {
            "status": response.status if response else None,
            "csp": page.events.csp_errors(),
            "console errors": page.events.console_errors(),
            "page errors": list(page.events.page_errors),
            "failed responses": list(page.events.bad_responses),
            "off-site requests": _off_site(page.events.requests, self.base_url),
        }
        if found["status"] != 200 or any(found[key] for key in found if key != "status"):
            self.problems[f"{who} {path}"] = {key: value for key, value in found.items() if value}

    def visit_all(self, paths: list[str], who: str) -> None:
        for path in paths:
            self.visit(path, who)


@pytest.mark.parametrize("locale", ["zh-CN"])
def test_pages_load_without_csp_or_script_errors(page, locale, base_url, sign_in):
    checker = PageChecker(page, base_url)
    checker.visit_all(NORMAL_PAGES_ANONYMOUS, "visitor")
    sign_in(page, DEMO_LOGINS["provider"])
    checker.visit_all(NORMAL_PAGES_MEMBER, "provider")
    page.context.clear_cookies()
    sign_in(page, DEMO_LOGINS["operator"])
    checker.visit_all(NORMAL_PAGES_OPERATOR, "operator")
    assert checker.problems == {}, pformat(checker.problems, width=100)


@pytest.mark.parametrize("locale", ["zh-CN"])
def test_every_header_link_loads(page, locale, base_url, sign_in):
    """Each link in the header, as a visitor, a provider and the operator: 200, no CSP errors."""
    checker = PageChecker(page, base_url)
    for who, email in [("visitor", None), ("provider", DEMO_LOGINS["provider"]),
                       ("operator", DEMO_LOGINS["operator"])]:
        page.context.clear_cookies()
        if email:
            sign_in(page, email)
        page.goto("/")
        checker.visit_all(_header_links(page), who)
    assert checker.problems == {}, pformat(checker.problems, width=100)
