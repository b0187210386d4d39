"""Certification in a real browser: from a provider's application to the public verify page.

The provider (in Chinese) applies for certification of one of its listed demo outlets with the
demo certifier; the certifier (in English, its own browser context) accepts, schedules the
audit for today, records one minor nonconformity, completes the audit; the provider answers
it; the certifier closes it and certifies. Anyone can then verify the certificate, in English
and in Chinese, and the provider's inbox holds unread notifications about it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import china_today, click_and_wait, path_of

pytestmark = pytest.mark.e2e

PROVIDER = "provider@outletpool.demo"
CERTIFIER = "certifier@outletpool.demo"
CERTIFIER_NAME = "中诚认证中心有限公司"
NONCONFORMING_ITEM = 5
FINDING_NOTE = "Fire extinguisher inspection tag missing"
CORRECTIVE_ACTION = "已更换灭火器并补挂检验标签 / extinguisher replaced and tagged"
CHECKLIST_ITEMS = 24


def status_of(page) -> str:
    return page.get_by_test_id("application-status").inner_text().strip()


def no_flash_errors(page) -> None:
    errors = page.locator(".flash-error").all_inner_texts()
    assert errors == [], errors


@pytest.fixture
def provider_page(new_page, sign_in):
    page = new_page("zh-CN")
    sign_in(page, PROVIDER)
    return page


@pytest.fixture
def certifier_page(new_page, sign_in):
    page = new_page("en-US")
    sign_in(page, CERTIFIER)
    return page


def apply_for_certification(page) -> tuple[int, int, str]:
    """From /certification: the first listed, uncertified outlet without an open application.
    Returns (application id, outlet id, outlet name)."""
    page.goto("/certification")
    candidates = page.get_by_test_id("outlets-to-certify").locator(
        "tbody tr", has=page.locator("a[href^='/certification/apply/']"),
    ).filter(has_not=page.locator(".badge-verified"))
    expect(candidates.first).to_be_visible()
    row = candidates.first
    name = row.locator("td").first.inner_text().splitlines()[0].strip()
    click_and_wait(page, row.locator("a[href^='/certification/apply/']"))
    match = re.fullmatch(r"/certification/apply/(\d+)", path_of(page))
    assert match, page.url
    outlet_id = int(match.group(1))

    form = page.get_by_test_id("apply-form")
    expect(form.locator("select[name=purpose]")).to_have_value("initial")
    certifier = form.locator("select[name=certifier_id] option", has_text=CERTIFIER_NAME)
    expect(certifier).to_have_count(1)
    form.locator("select[name=certifier_id]").select_option(certifier.get_attribute("value"))
    expect(form.locator("select[name=scheme_id] option").first).to_be_attached()
    click_and_wait(page, form.locator("[type=submit]"))
    match = re.fullmatch(r"/certification/applications/(\d+)", path_of(page))
    assert match, page.locator("main").inner_text()
    expect(page.locator(".flash-success")).to_contain_text(CERTIFIER_NAME)
    expect(page.locator("h1")).to_contain_text(name)
    return int(match.group(1)), outlet_id, name


def test_certification_from_application_to_verified_certificate(
        provider_page, certifier_page, new_page, screenshot):
    provider, certifier = provider_page, certifier_page

    # --- the provider applies
    application_id, outlet_id, outlet_name = apply_for_certification(provider)
    detail = f"/certification/applications/{application_id}"
    expect(provider.get_by_test_id("waiting-on")).to_be_visible()
    screenshot(provider, "applied")

    # --- the certifier finds it in its list, accepts and schedules the audit (today, itself)
    certifier.goto("/certification")
    row = certifier.get_by_test_id("applications").locator("tbody tr", has_text=outlet_name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("绿源电池综合利用有限公司")
    click_and_wait(certifier, row.locator(f"a[href='{detail}']"))
    assert path_of(certifier) == detail
    expect(certifier.get_by_test_id("application-status")).to_have_text("Submitted")
    click_and_wait(certifier, certifier.get_by_test_id("accept"))
    no_flash_errors(certifier)
    expect(certifier.locator(".flash-success")).to_contain_text("accepted")
    expect(certifier.get_by_test_id("application-status")).to_have_text("Accepted")

    schedule = certifier.get_by_test_id("schedule")
    schedule.locator("input[name=schedule-audit_date]").fill(china_today().isoformat())
    auditor = schedule.locator("select[name=schedule-auditor_id] option", has_text=CERTIFIER)
    expect(auditor).to_have_count(1)
    schedule.locator("select[name=schedule-auditor_id]").select_option(
        auditor.get_attribute("value"))
    click_and_wait(certifier, schedule.locator("[type=submit]"))
    no_flash_errors(certifier)
    expect(certifier.locator(".flash-success")).to_contain_text("scheduled")
    expect(certifier.get_by_test_id("application-status")).to_have_text("Audit scheduled")

    # --- the audit sheet: every item conforms but one (minor, with a note)
    sheet = certifier.get_by_test_id("audit-sheet")
    grades = sheet.locator("select[name^=grade-]")
    expect(grades).to_have_count(CHECKLIST_ITEMS)
    for select in grades.all():
        select.select_option("conforms")
    sheet.locator(f"select[name=grade-{NONCONFORMING_ITEM}]").select_option("minor")
    sheet.locator(f"input[name=note-{NONCONFORMING_ITEM}]").fill(FINDING_NOTE)
    screenshot(certifier, "audit-sheet")
    click_and_wait(certifier, certifier.get_by_test_id("save-findings"))
    no_flash_errors(certifier)
    expect(certifier.locator(".flash-success")).to_contain_text(f"({CHECKLIST_ITEMS} items)")
    click_and_wait(certifier, certifier.get_by_test_id("complete-audit"))
    no_flash_errors(certifier)
    expect(certifier.locator(".flash-success")).to_contain_text("Audit completed")
    expect(certifier.get_by_test_id("application-status")).to_have_text("Audited")
    finding = certifier.get_by_test_id(f"finding-{NONCONFORMING_ITEM}")
    expect(finding).to_contain_text("Minor")
    expect(finding).to_contain_text(FINDING_NOTE)
    expect(certifier.get_by_test_id("findings").locator("tr[data-testid^=finding-]")) \
        .to_have_count(1)
    expect(certifier.get_by_test_id("certify")).to_be_disabled()  # a nonconformity is open

    # --- the provider answers the nonconformity
    provider.goto(detail)
    answer = provider.get_by_test_id(f"respond-{NONCONFORMING_ITEM}")
    expect(answer).to_be_visible()
    expect(provider.get_by_test_id(f"finding-{NONCONFORMING_ITEM}")).to_contain_text(FINDING_NOTE)
    answer.locator("textarea").fill(CORRECTIVE_ACTION)
    screenshot(provider, "answer-nonconformity")
    click_and_wait(provider, answer.locator("[type=submit]"))
    no_flash_errors(provider)
    expect(provider.locator(".flash-success")).to_be_visible()
    expect(provider.get_by_test_id(f"finding-{NONCONFORMING_ITEM}")).to_contain_text(
        CORRECTIVE_ACTION)

    # --- the certifier closes it and certifies
    certifier.goto(detail)
    expect(certifier.get_by_test_id(f"finding-{NONCONFORMING_ITEM}")).to_contain_text(
        CORRECTIVE_ACTION)
    expect(certifier.get_by_test_id("certify")).to_be_disabled()  # the nonconformity is open
    click_and_wait(certifier, certifier.get_by_test_id(f"close-{NONCONFORMING_ITEM}"))
    no_flash_errors(certifier)
    expect(certifier.locator(".flash-success")).to_contain_text("closed")
    expect(certifier.get_by_test_id(f"finding-{NONCONFORMING_ITEM}").locator(".badge-verified")) \
        .to_have_text("Closed")
    expect(certifier.get_by_test_id("certify")).to_be_enabled()
    certifier.locator("#certify-reason").fill("All findings closed.")
    click_and_wait(certifier, certifier.get_by_test_id("certify"))
    no_flash_errors(certifier)
    expect(certifier.get_by_test_id("application-status")).to_have_text("Certified")
    certificate_link = certifier.get_by_test_id("certificate")
    expect(certificate_link).to_have_text(re.compile(r"^\S+-\d+"))
    number = certificate_link.inner_text().strip()
    screenshot(certifier, "certified")

    click_and_wait(certifier, certificate_link)
    assert path_of(certifier) == f"/certificates/{number}"
    expect(certifier.get_by_test_id("certificate-status")).to_have_attribute("data-status", "valid")
    expect(certifier.get_by_test_id("certificate-facts")).to_contain_text(outlet_name)

    # --- the public verification page, anonymous, in English (typed into the form) and in
    # Chinese (the /verify/<number> link itself)
    for locale, verdict in (("en-US", "Valid"), ("zh-CN", None)):
        visitor = new_page(locale)
        if verdict:
            visitor.goto("/verify")
            form = visitor.get_by_test_id("verify-form")
            form.locator("input[name=number]").fill(number)
            click_and_wait(visitor, form.locator("[type=submit]"))
        else:
            visitor.goto(f"/verify/{number}")
        assert path_of(visitor) == f"/verify/{number}", visitor.url
        result = visitor.get_by_test_id("verdict")
        expect(result).to_have_attribute("data-verdict", "valid")
        expect(result).to_have_class(re.compile(r"\bverdict-good\b"))
        if verdict:
            expect(result.locator("h2")).to_have_text(verdict)
        else:
            expect(visitor.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(result.locator("h2")).to_have_text(re.compile(r"[\u4e00-\u9fff]"))
        expect(visitor.get_by_test_id("certificate-status")).to_have_attribute("data-status",
                                                                                "valid")
        facts = visitor.get_by_test_id("certificate-facts")
        expect(facts).to_contain_text(outlet_name)
        expect(facts).to_contain_text(CERTIFIER_NAME)
        expect(visitor.get_by_test_id("logout")).to_have_count(0)
        screenshot(visitor, "verify-valid")
        assert visitor.events.csp_errors() == []
        assert visitor.events.page_errors == []

    # The pool carries the certified mark.
    visitor.goto(f"/outlets/{outlet_id}")
    expect(visitor.get_by_test_id("certified")).to_have_class(re.compile(r"\bbadge-verified\b"))

    # --- the provider's inbox: unread news of the decision and the certificate
    provider.goto("/notifications")
    expect(provider.get_by_test_id("unread-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
    unread = provider.get_by_test_id("notifications").locator("li.unread")
    expect(unread.first).to_be_visible()
    issued = unread.filter(has_text=number)
    expect(issued).to_have_count(1)
    expect(issued).to_have_attribute("data-event", "certificate.issued")
    expect(provider.get_by_test_id("notifications").locator(
        "li.unread[data-event='application.certified']")).to_have_count(1)
    screenshot(provider, "inbox")

    # Certificates list of the provider shows it too.
    provider.goto("/certificates")
    expect(provider.get_by_test_id("certificates").locator(f"tr[data-number='{number}']")) \
        .to_have_count(1)
    assert provider.events.page_errors == []
    assert certifier.events.page_errors == []
