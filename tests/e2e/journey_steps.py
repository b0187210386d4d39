"""Steps of the full journey (test_full_journey.py), each one user's action through the pages.

Every step asserts what the user would notice (where it lands, the status the page shows,
no error flash) through data-testid and data-* attributes, so the same steps run in Chinese
and in English.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import struct
import time
import urllib.error
import urllib.request
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.helpers import china_today, click_and_wait, path_of, unique_credit_code

PASSWORD = "e2e-journey-password-1"  # every organization signed up here
OPERATOR = "operator@outletpool.demo"
CERTIFIER = "certifier@outletpool.demo"
CERTIFIER_NAME = "中诚认证中心有限公司"
SHENZHEN = "440300"
OUTLET_ADDRESS = "广东省深圳市南山区科技园南区18号"
ORG_ADDRESS = "广东省深圳市南山区科技园"
CHECKLIST_ITEMS = 24


def no_flash_errors(page) -> None:
    errors = page.locator(".flash-error, .form-errors, small.field-error").all_inner_texts()
    assert errors == [], f"{page.url}: {errors}"


def succeeded(page) -> None:
    """The action landed with a success message and no error anywhere on the page."""
    no_flash_errors(page)
    expect(page.locator(".flash-success").first).to_be_visible()


def fen_to_yuan(fen: int) -> str:
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def tiny_png() -> bytes:
    """A valid 1x1 PNG (a site photo as far as the evidence check is concerned)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\x20\x80\x40")) + chunk(b"IEND", b""))


@dataclass
class Org:
    """An organization signed up in the journey, and the page its owner works in."""

    kind: str
    legal_name: str
    email: str
    page: object = None
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- 1. accounts


def sign_up(page, org: Org, *, tag: str) -> None:
    page.goto("/signup")
    form = page.get_by_test_id("signup-form")
    form.locator("select[name=kind]").select_option(org.kind)
    if org.kind == "provider":
        form.locator("select[name=provider_type]").select_option("utilization")
    form.locator("input[name=legal_name]").fill(org.legal_name)
    form.locator("input[name=english_name]").fill(f"E2E {org.kind.title()} {tag} Co., Ltd.")
    form.locator("input[name=credit_code]").fill(unique_credit_code())
    form.locator("input[name=address]").fill(ORG_ADDRESS)
    form.locator("input[name=contact_name]").fill("周测试")
    form.locator("input[name=contact_phone]").fill("0755-88886666")
    form.locator("input[name=contact_email]").fill(org.email)
    form.locator("input[name=name]").fill("周测试")
    form.locator("input[name=email]").fill(org.email)
    form.locator("input[name=password]").fill(PASSWORD)
    click_and_wait(page, form.locator("[type=submit]"))
    assert path_of(page) == "/dashboard", page.locator("main").inner_text()[:2000]
    expect(page.get_by_test_id("verification-status")).to_have_class(re.compile(r"\bbadge-pending\b"))
    org.page = page


def verify_organization(operator, org: Org) -> None:
    operator.goto("/operator/verifications")
    row = operator.get_by_test_id("queue").locator("tbody tr", has_text=org.legal_name)
    expect(row).to_have_count(1)
    click_and_wait(operator, row.locator("a[href*='/operator/organizations/']"))
    form = operator.get_by_test_id("verification-form")
    form.locator("select[name=status]").select_option("verified")
    click_and_wait(operator, form.locator("[type=submit]"))
    assert path_of(operator) == "/operator/verifications"
    expect(operator.locator(".flash-success")).to_contain_text(org.legal_name)
    org.page.goto("/dashboard")
    expect(org.page.get_by_test_id("verification-status")).to_have_class(
        re.compile(r"\bbadge-verified\b"))


# --------------------------------------------------------------------------- outlet


def create_outlet(provider, name: str) -> int:
    provider.goto("/outlets/new")
    form = provider.get_by_test_id("outlet-form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=address]").fill(OUTLET_ADDRESS)
    form.locator("select[name=type]").select_option("collection")
    form.locator("select[name=establishment]").select_option("self_built")
    form.locator("input[name=storage_area_m2]").fill("30")
    form.locator("input[name=max_stored_weight_t]").fill("4")
    form.locator("input[name=annual_capacity_t]").fill("300")
    form.locator("input[name=chemistries][value=LFP]").check()
    form.locator("input[name=chemistries][value=NCM]").check()
    form.locator("input[name=safety_classes][value=A]").check()
    form.locator("input[name=opening_hours]").fill("周一至周六 8:30-18:00")
    form.locator("input[name=contact_name]").fill("刘测试")
    form.locator("input[name=contact_phone]").fill("0755-26661234")
    click_and_wait(provider, form.locator("[type=submit]"))
    match = re.fullmatch(r"/outlets/(\d+)/manage", path_of(provider))
    assert match, provider.locator("main").inner_text()[:2000]
    succeeded(provider)
    expect(provider.get_by_test_id("outlet-status")).to_have_class(re.compile(r"\bbadge-pending\b"))
    return int(match.group(1))


def upload_evidence(provider, path: Path, item: int) -> None:
    form = provider.get_by_test_id("evidence-form")
    form.locator("input[type=file]").set_input_files(str(path))
    form.locator("select").select_option(str(item))
    click_and_wait(provider, form.locator("[type=submit]"))
    succeeded(provider)
    row = provider.locator("#evidence tbody tr", has_text=path.name)
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_have_text(str(item))


def pass_self_assessment(provider, outlet_id: int) -> None:
    provider.goto(f"/outlets/{outlet_id}/assessment")
    form = provider.get_by_test_id("assessment-form")
    passes = form.locator("input[type=radio][value=pass]")
    expect(passes).to_have_count(CHECKLIST_ITEMS)
    for radio in passes.all():
        radio.check()
    click_and_wait(provider, provider.get_by_test_id("complete-assessment"))
    assert path_of(provider) == f"/outlets/{outlet_id}/manage", provider.url
    succeeded(provider)
    gaps = provider.get_by_test_id("gap-report")
    expect(gaps.locator(".badge-verified")).to_have_count(1)  # compliant
    expect(gaps.locator("li")).to_have_count(0)


def list_and_offer(provider, *, capacity_t: int, annual_fee_yuan: int) -> None:
    click_and_wait(provider, provider.get_by_test_id("move-listed").locator("[type=submit]"))
    succeeded(provider)
    expect(provider.get_by_test_id("outlet-status")).to_have_class(re.compile(r"\bbadge-verified\b"))
    offer = provider.get_by_test_id("offer-form")
    offer.locator("input[name=offer-capacity_t_per_year]").fill(str(capacity_t))
    offer.locator("input[name=offer-min_term_months]").fill("12")
    offer.locator("input[name=offer-annual_fee_yuan]").fill(str(annual_fee_yuan))
    offer.locator("input[name=offer-handling_fee_yuan_per_t]").fill("800")
    offer.locator("input[name=offer-available_from]").fill(china_today().isoformat())
    click_and_wait(provider, offer.locator("[type=submit]"))
    succeeded(provider)


# --------------------------------------------------------------------------- 2. certification


def apply_for_certification(provider, outlet_name: str) -> int:
    provider.goto("/certification")
    row = provider.get_by_test_id("outlets-to-certify").locator("tbody tr", has_text=outlet_name)
    expect(row).to_have_count(1)
    click_and_wait(provider, row.locator("a[href^='/certification/apply/']"))
    form = provider.get_by_test_id("apply-form")
    certifier = form.locator("select[name=certifier_id] option", has_text=CERTIFIER_NAME)
    expect(certifier).to_have_count(1)
    form.locator("select[name=certifier_id]").select_option(certifier.get_attribute("value"))
    click_and_wait(provider, form.locator("[type=submit]"))
    match = re.fullmatch(r"/certification/applications/(\d+)", path_of(provider))
    assert match, provider.locator("main").inner_text()[:2000]
    succeeded(provider)
    expect(provider.get_by_test_id("application-status")).to_have_attribute("data-status", "submitted")
    return int(match.group(1))


def certifier_audits(certifier, application_id: int, *, item: int, note: str) -> None:
    """Accept, schedule today with itself as auditor, grade every item, one minor finding."""
    certifier.goto(f"/certification/applications/{application_id}")
    click_and_wait(certifier, certifier.get_by_test_id("accept"))
    succeeded(certifier)
    expect(certifier.get_by_test_id("application-status")).to_have_attribute("data-status", "accepted")
    schedule = certifier.get_by_test_id("schedule")
    schedule.locator("input[name=schedule-audit_date]").fill(china_today().isoformat())
    auditor = schedule.locator("select[name=schedule-auditor_id] option", has_text=CERTIFIER)
    schedule.locator("select[name=schedule-auditor_id]").select_option(auditor.get_attribute("value"))
    click_and_wait(certifier, schedule.locator("[type=submit]"))
    succeeded(certifier)
    expect(certifier.get_by_test_id("application-status")).to_have_attribute(
        "data-status", "audit_scheduled")
    sheet = certifier.get_by_test_id("audit-sheet")
    grades = sheet.locator("select[name^=grade-]")
    expect(grades).to_have_count(CHECKLIST_ITEMS)
    for select in grades.all():
        select.select_option("conforms")
    sheet.locator(f"select[name=grade-{item}]").select_option("minor")
    sheet.locator(f"input[name=note-{item}]").fill(note)
    click_and_wait(certifier, certifier.get_by_test_id("save-findings"))
    succeeded(certifier)
    click_and_wait(certifier, certifier.get_by_test_id("complete-audit"))
    succeeded(certifier)
    expect(certifier.get_by_test_id("application-status")).to_have_attribute("data-status", "audited")
    expect(certifier.get_by_test_id(f"finding-{item}")).to_contain_text(note)
    expect(certifier.get_by_test_id("certify")).to_be_disabled()  # the nonconformity is open


def provider_answers(provider, application_id: int, *, item: int, action: str) -> None:
    provider.goto(f"/certification/applications/{application_id}")
    answer = provider.get_by_test_id(f"respond-{item}")
    expect(answer).to_be_visible()
    answer.locator("textarea").fill(action)
    click_and_wait(provider, answer.locator("[type=submit]"))
    succeeded(provider)
    expect(provider.get_by_test_id(f"finding-{item}")).to_contain_text(action)


def certifier_certifies(certifier, application_id: int, *, item: int) -> str:
    """Close the answered nonconformity and certify; returns the certificate number."""
    certifier.goto(f"/certification/applications/{application_id}")
    expect(certifier.get_by_test_id("certify")).to_be_disabled()
    click_and_wait(certifier, certifier.get_by_test_id(f"close-{item}"))
    succeeded(certifier)
    expect(certifier.get_by_test_id("certify")).to_be_enabled()
    certifier.locator("#certify-reason").fill("Nonconformity closed on evidence / 不符合项已关闭")
    click_and_wait(certifier, certifier.get_by_test_id("certify"))
    no_flash_errors(certifier)
    expect(certifier.get_by_test_id("application-status")).to_have_attribute("data-status", "certified")
    link = certifier.get_by_test_id("certificate")
    expect(link).to_have_text(re.compile(r"^\S+-\d+"))
    return link.inner_text().strip()


# --------------------------------------------------------------------------- 3. makers


SALES_HEADER = "城市,年份,销量,保有量"


def upload_sales(maker, tmp_path: Path, *, year: int, sales: int, parc: int) -> None:
    """Sales in Shenzhen below the storage threshold: one collection outlet is required."""
    path = tmp_path / f"sales-{uuid.uuid4().hex[:6]}.csv"
    path.write_text(f"{SALES_HEADER}\n{SHENZHEN},{year},{sales},{parc}\n", encoding="utf-8")
    maker.goto("/sales")
    form = maker.get_by_test_id("sales-upload-form")
    form.locator("input[type=file]").set_input_files(str(path))
    response = click_and_wait(maker, form.locator("[type=submit]"))
    assert response.status == 200, maker.locator("main").inner_text()[:2000]
    expect(maker.get_by_test_id("sales-upload-result")).to_be_visible()
    row = maker.get_by_test_id("sales-table").locator(
        f"tbody tr[data-division='{SHENZHEN}'][data-year='{year}']")
    expect(row.locator("td").nth(2)).to_have_text(str(sales))


def shenzhen_obligation(maker):
    maker.goto("/obligations")
    row = maker.get_by_test_id("obligations-table").locator(f"tbody tr[data-division='{SHENZHEN}']")
    expect(row).to_have_count(1)
    return row


def compute_plan(maker, *, require: int | None = None) -> int:
    maker.goto("/coverage-plans")
    form = maker.get_by_test_id("plan-form")
    if require is not None:
        form.locator("input[name=require]").fill(str(require))
    click_and_wait(maker, form.locator("[type=submit]"))
    match = re.fullmatch(r"/coverage-plans/(\d+)", path_of(maker))
    assert match, maker.locator("main").inner_text()[:2000]
    succeeded(maker)
    expect(maker.get_by_test_id("plan-status")).to_be_visible()
    # Shenzhen's collection obligation is either assigned an outlet or said uncoverable.
    assigned = maker.get_by_test_id("assignments").locator("tbody tr", has_text=SHENZHEN)
    uncoverable = maker.get_by_test_id("uncoverable").locator("tbody tr", has_text=SHENZHEN)
    assert assigned.count() + uncoverable.count() >= 1, maker.locator("main").inner_text()[:2000]
    return int(match.group(1))


def request_capacity(maker, outlet_id: int, *, tonnes: str, message: str) -> int:
    maker.goto(f"/outlets/{outlet_id}")
    form = maker.get_by_test_id("request-capacity").get_by_test_id("request-form")
    form.locator("input[name=tonnes_per_year]").fill(tonnes)
    form.locator("select[name=form]").select_option("shared_use")
    form.locator("textarea[name=message]").fill(message)
    click_and_wait(maker, form.get_by_test_id("send-request"))
    match = re.fullmatch(r"/contracts/requests/(\d+)", path_of(maker))
    assert match, maker.locator("main").inner_text()[:2000]
    succeeded(maker)
    expect(maker.get_by_test_id("request-status")).to_have_attribute("data-status", "requested")
    return int(match.group(1))


def agreement_id_of(page) -> int:
    match = re.fullmatch(r"/contracts/agreements/(\d+)", path_of(page))
    assert match, f"{page.url}: {page.locator('main').inner_text()[:2000]}"
    return int(match.group(1))


def sign_agreement(page, agreement_id: int) -> None:
    page.goto(f"/contracts/agreements/{agreement_id}")
    form = page.get_by_test_id("sign-form")
    sha = page.get_by_test_id("pending-sha256").inner_text().strip()
    expect(form.locator("input[name=sign-document_sha256]")).to_have_value(sha)
    form.locator("input[name=sign-password]").fill(PASSWORD)
    click_and_wait(page, form.get_by_test_id("sign"))
    succeeded(page)
    expect(page.get_by_test_id("sign-form")).to_have_count(0)


# --------------------------------------------------------------------------- 4. billing


def set_bank_account(provider, *, account_name: str, account_number: str) -> None:
    """'Getting paid': the account printed on the provider's invoices."""
    provider.goto("/billing/bank-account")
    form = provider.get_by_test_id("bank-account-form")
    form.locator("input[name=bank_name]").fill("中国工商银行深圳南山支行")
    form.locator("input[name=account_name]").fill(account_name)
    form.locator("input[name=account_number]").fill(account_number)
    click_and_wait(provider, form.locator("[type=submit]"))
    succeeded(provider)
    expect(provider.get_by_test_id("bank-account-form").locator("input[name=account_number]")) \
        .to_have_value(account_number)


def next_month_first(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def open_only_invoice(page, agreement_number: str) -> int:
    page.goto("/billing/invoices")
    rows = page.get_by_test_id("invoices").locator("tr[data-testid=invoice-row]")
    expect(rows).to_have_count(1)
    click_and_wait(page, rows.first.locator("a").first)
    match = re.fullmatch(r"/billing/invoices/(\d+)", path_of(page))
    assert match, page.url
    expect(page.locator("main hgroup")).to_contain_text(agreement_number)
    return int(match.group(1))


def fen_of(page, test_id: str) -> int:
    return int(page.get_by_test_id(test_id).get_attribute("data-fen"))


def sign_webhook(payload: bytes, secret: str) -> str:
    """The Stripe-Signature header Stripe would send (scheme v1: HMAC-SHA256 of t.payload)."""
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def deliver_webhook(base_url: str, payload: bytes, signature: str) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310
        f"{base_url}/webhooks/stripe", data=payload, method="POST",
        headers={"Content-Type": "application/json", "Stripe-Signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def confirm_in_localstripe(api_base: str, secret_key: str, intent_id: str) -> dict:
    """What Stripe.js does in the customer's browser: attach a test card and confirm."""
    import stripe

    client = stripe.StripeClient(secret_key, base_addresses={"api": api_base})
    method = client.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4242424242424242", "exp_month": 12,
                                 "exp_year": china_today().year + 3, "cvc": "123"}})
    # localstripe confirms only an intent that already names its payment method.
    client.v1.payment_intents.update(intent_id, params={"payment_method": method.id})
    client.v1.payment_intents.confirm(intent_id)
    return json.loads(str(client.v1.payment_intents.retrieve(intent_id)))


# --------------------------------------------------------------------------- 5. filings


def generate_filing(maker) -> int:
    maker.goto("/filings")
    click_and_wait(maker, maker.get_by_test_id("generate"))
    match = re.fullmatch(r"/filings/(\d+)", path_of(maker))
    assert match, maker.locator("main").inner_text()[:2000]
    succeeded(maker)
    return int(match.group(1))


def confirm_joint_filing(page, outlet_name: str) -> None:
    page.goto("/filings/joint")
    row = page.get_by_test_id("joint-awaiting-list").locator("tbody tr", has_text=outlet_name)
    expect(row).to_have_count(1)
    click_and_wait(page, row.locator("a").first)
    form = page.get_by_test_id("confirm-form")
    form.locator("input[name=password]").fill(PASSWORD)
    click_and_wait(page, form.locator("[type=submit]"))
    succeeded(page)
    expect(page.get_by_test_id("confirm-form")).to_have_count(0)
