"""The whole journey in a real browser, once in Chinese and once in English.

Every organization is new (named and addressed with the run's tag, so the two runs share the
server and the demo logins without colliding); the operator and the certifier are the demo
logins. Every actor works in its own browser context in the run's language.

1. A provider signs up, the operator verifies it; it creates an outlet in Shenzhen, uploads a
   photo and a PDF as evidence, passes the 24-item self-assessment, lists the outlet and
   offers 200 t/year.
2. It applies for certification with the demo certifier, which accepts, schedules the audit,
   records one minor nonconformity; the provider answers it; the certifier closes it and
   certifies; anyone can verify the certificate.
3. Two manufacturers sign up and are verified, upload their Shenzhen sales (CSV), see the city
   uncovered, compute a coverage plan each and request capacity at the outlet. The provider
   accepts the first and counters the second; the first maker and the provider sign
   version 1; the second accepts the counter, which issues version 2, signed by all three.
   Both makers' obligations turn Shenzhen covered.
4. The agreement is billed monthly (set on its page) and the provider registers the bank
   account its invoices print; `flask tick --now` the first of next month issues an invoice
   to each maker. The first pays by bank transfer (the provider
   records it against the invoice: paid); the second by card: the invoice page creates the
   PaymentIntent in localstripe, the test confirms it there (what Stripe.js would do) and
   delivers the signed webhook; the invoice shows paid. The provider's statement shows what
   it is owed: the card payment the platform holds, less the platform fee on both invoices.
5. Each maker generates its filing and confirms the joint filing of the shared outlet, and so
   does the provider; the makers' next versions have nothing unconfirmed, and the XLSX
   downloaded from the page lists the shared outlet against the maker.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e import journey_steps as step
from tests.e2e.conftest import STRIPE_TEST_SECRET_KEY, STRIPE_TEST_WEBHOOK_SECRET
from tests.e2e.journey_steps import OPERATOR, Org, click_and_wait, fen_of, succeeded

pytestmark = pytest.mark.e2e

NONCONFORMING_ITEM = 9
FILING_HEADERS = ("生产企业名称", "回收服务网点名称")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_full_journey(locale, new_page, sign_in, screenshot, live_server, base_url, tmp_path):
    lang = "zh" if locale.startswith("zh") else "en"
    tag = f"{lang}{uuid.uuid4().hex[:6]}"
    provider = Org("provider", f"深圳全程回收科技有限公司{tag}", f"provider-{tag}@e2e.example.com")
    maker_a = Org("manufacturer", f"鹏城新能源汽车有限公司{tag}", f"maker-a-{tag}@e2e.example.com")
    maker_b = Org("manufacturer", f"湾区智能汽车有限公司{tag}", f"maker-b-{tag}@e2e.example.com")
    makers = (maker_a, maker_b)
    outlet_name = f"E2E全程回收服务网点-{tag}"
    pages = []

    def page_for():
        page = new_page(locale)
        pages.append(page)
        return page

    # ------------------------------------------------------------------ 1. sign up, verify
    for org in (provider, *makers):
        step.sign_up(page_for(), org, tag=tag)
    expect(provider.page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")
    screenshot(provider.page, "provider-signed-up")
    operator = page_for()
    sign_in(operator, OPERATOR)
    operator.goto("/operator/verifications")
    for org in (provider, *makers):
        expect(operator.get_by_test_id("queue").locator("tbody tr", has_text=org.legal_name)) \
            .to_have_count(1)
    screenshot(operator, "verification-queue")
    for org in (provider, *makers):
        step.verify_organization(operator, org)

    # ------------------------------------------------------------------ 1. outlet, evidence
    p = provider.page
    outlet_id = step.create_outlet(p, outlet_name)
    photo = tmp_path / "outlet-entrance.png"
    photo.write_bytes(step.tiny_png())
    pdf = tmp_path / "fire-inspection-certificate.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    step.upload_evidence(p, photo, 1)
    step.upload_evidence(p, pdf, NONCONFORMING_ITEM)
    step.pass_self_assessment(p, outlet_id)
    step.list_and_offer(p, capacity_t=200, annual_fee_yuan=12000)
    screenshot(p, "outlet-listed")

    # ------------------------------------------------------------------ 2. certification
    certifier = page_for()
    sign_in(certifier, step.CERTIFIER)
    application_id = step.apply_for_certification(p, outlet_name)
    step.certifier_audits(certifier, application_id, item=NONCONFORMING_ITEM,
                          note="Extinguisher tag missing / 灭火器检验标签缺失")
    step.provider_answers(p, application_id, item=NONCONFORMING_ITEM,
                          action="已补挂检验标签 / tagged, photo attached")
    number = step.certifier_certifies(certifier, application_id, item=NONCONFORMING_ITEM)
    screenshot(certifier, "certified")
    visitor = page_for()
    visitor.goto("/verify")
    form = visitor.get_by_test_id("verify-form")
    form.locator("input[name=number]").fill(number)
    click_and_wait(visitor, form.locator("[type=submit]"))
    verdict = visitor.get_by_test_id("verdict")
    expect(verdict).to_have_attribute("data-verdict", "valid")
    expect(visitor.get_by_test_id("certificate-facts")).to_contain_text(outlet_name)
    expect(visitor.get_by_test_id("certificate-facts")).to_contain_text(step.CERTIFIER_NAME)
    screenshot(visitor, "certificate-verified")
    visitor.goto(f"/outlets/{outlet_id}")
    expect(visitor.get_by_test_id("certified")).to_have_class(re.compile(r"\bbadge-verified\b"))

    # ------------------------------------------------------------------ 3. sales, obligations
    year = step.china_today().year
    for index, maker in enumerate(makers):
        m = maker.page
        step.upload_sales(m, tmp_path, year=year, sales=300 + index * 100, parc=1500 + index * 500)
        row = step.shenzhen_obligation(m)
        expect(row).to_have_attribute("data-status", "uncovered")
        expect(row.locator("td").nth(4).locator("span")).to_have_count(1)  # collection only
        expect(row.get_by_test_id("met-by").locator("a")).to_have_count(0)
        expect(m.get_by_test_id("count-uncovered")).to_have_text("1")
    screenshot(maker_a.page, "obligations-gap")
    step.compute_plan(maker_a.page)
    screenshot(maker_a.page, "coverage-plan")
    step.compute_plan(maker_b.page, require=outlet_id)
    expect(maker_b.page.get_by_test_id("plan-outlets").locator("tbody tr", has_text=outlet_name)) \
        .to_have_count(1)

    # ------------------------------------------------------------------ 3. contracting
    request_a = step.request_capacity(maker_a.page, outlet_id, tonnes="50",
                                      message="深圳经销商回收 / Shenzhen dealers")
    request_b = step.request_capacity(maker_b.page, outlet_id, tonnes="60",
                                      message="Shenzhen service centres")
    p.goto("/contracts/requests")
    for request_id in (request_a, request_b):
        expect(p.get_by_test_id("requests").locator(f"tr[data-request-id='{request_id}']")
               .get_by_test_id("your-move")).to_be_visible()

    p.goto(f"/contracts/requests/{request_a}")
    click_and_wait(p, p.get_by_test_id("accept"))
    agreement_id = step.agreement_id_of(p)
    succeeded(p)
    agreement_number = p.get_by_test_id("agreement-number").inner_text().strip()

    p.goto(f"/contracts/requests/{request_b}")
    counter = p.get_by_test_id("counter")
    counter.locator("summary").click()
    counter_form = counter.get_by_test_id("counter-form")
    counter_form.locator("input[name=counter-tonnes_per_year]").fill("40")
    counter_form.locator("textarea[name=counter-message]").fill("40 吨可用 / 40 t available")
    click_and_wait(p, counter_form.get_by_test_id("send-counter"))
    succeeded(p)
    expect(p.get_by_test_id("request-status")).to_have_attribute("data-status", "countered")

    step.sign_agreement(maker_a.page, agreement_id)
    step.sign_agreement(p, agreement_id)
    expect(p.get_by_test_id("agreement-status")).to_have_attribute("data-status", "active")

    # Billed monthly (the default is quarterly): set before any invoice.
    period = p.get_by_test_id("period-form")
    period.locator("select").select_option("monthly")
    click_and_wait(p, period.locator("[type=submit]"))
    succeeded(p)
    expect(p.get_by_test_id("billing-period")).to_have_attribute("data-period", "monthly")

    b = maker_b.page
    b.goto(f"/contracts/requests/{request_b}")
    expect(b.get_by_test_id("request-status")).to_have_attribute("data-status", "countered")
    expect(b.get_by_test_id("term-tonnes")).to_contain_text("40")
    click_and_wait(b, b.get_by_test_id("accept-counter"))
    assert step.agreement_id_of(b) == agreement_id  # joins the outlet's agreement
    succeeded(b)
    missing = b.get_by_test_id("missing-signatures")
    for org in (provider, *makers):  # version 2: everyone signs again
        expect(missing).to_contain_text(org.legal_name)
    expect(b.get_by_test_id("version-row")).to_have_count(2)
    screenshot(b, "agreement-v2-to-sign")
    for page in (b, maker_a.page, p):
        step.sign_agreement(page, agreement_id)
    expect(p.get_by_test_id("agreement-status")).to_have_attribute("data-status", "active")
    expect(p.get_by_test_id("signing")).to_have_count(0)
    allocations = p.get_by_test_id("allocation-row")
    expect(allocations).to_have_count(2)
    for index in range(2):
        expect(allocations.nth(index).get_by_test_id("allocation-state")).to_have_attribute(
            "data-state", "active")
    expect(p.get_by_test_id("version-row").filter(
        has=p.locator("td:first-child", has_text=re.compile(r"^2$")))).to_contain_text("3/3")
    screenshot(p, "agreement-v2-active")

    for maker in makers:
        row = step.shenzhen_obligation(maker.page)
        expect(row).to_have_attribute("data-status", "covered")
        expect(row.get_by_test_id("met-by")).to_contain_text(outlet_name)
        expect(maker.page.get_by_test_id("count-uncovered")).to_have_text("0")
    screenshot(maker_b.page, "obligations-covered")

    # ------------------------------------------------------------------ 4. invoices
    account_number = f"4000{uuid.uuid4().int % 10**15:015d}"
    step.set_bank_account(p, account_name=provider.legal_name, account_number=account_number)
    tick_at = f"{step.next_month_first(step.china_today()).isoformat()}T08:00:00+08:00"
    ticked = live_server.flask("tick", "--now", tick_at).stdout
    issued = re.search(r"invoices\.issue_due=(\d+)", ticked)
    assert issued and int(issued.group(1)) >= 2, ticked

    a = maker_a.page
    invoice_a = step.open_only_invoice(a, agreement_number)
    expect(a.get_by_test_id("invoice-state")).to_have_attribute("data-state", "unpaid")
    gross_a, net_a = fen_of(a, "gross"), fen_of(a, "net")
    assert gross_a > net_a > 0
    assert fen_of(a, "amount-to-pay") == gross_a
    reference = a.get_by_test_id("payment-reference").inner_text().strip()
    expect(a.get_by_test_id("account-number")).to_have_text(account_number)  # where to transfer
    screenshot(a, "invoice-to-pay")

    # Paid by bank transfer: the provider records the transfer it received, quoting the reference.
    p.goto(f"/billing/invoices/{invoice_a}")
    p.get_by_test_id("record-transfer").locator("summary").click()
    transfer = p.get_by_test_id("transfer-form")
    transfer.locator("input[name=transfer-amount_yuan]").fill(step.fen_to_yuan(gross_a))
    transfer.locator("input[name=transfer-reference]").fill(reference)
    click_and_wait(p, transfer.get_by_test_id("record-transfer-submit"))
    succeeded(p)
    expect(p.get_by_test_id("invoice-state")).to_have_attribute("data-state", "paid")
    assert fen_of(p, "outstanding") == 0
    expect(p.get_by_test_id("payments").locator("tbody tr")).to_have_count(1)
    expect(p.get_by_test_id("payments")).to_contain_text(reference)
    screenshot(p, "invoice-paid-by-transfer")
    a.reload()
    expect(a.get_by_test_id("invoice-state")).to_have_attribute("data-state", "paid")

    invoice_b = step.open_only_invoice(b, agreement_number)
    gross_b, net_b = fen_of(b, "gross"), fen_of(b, "net")
    assert gross_b > net_b > 0
    if live_server.stripe_api_base:
        # Paid by card: the page creates the PaymentIntent; Stripe.js cannot load offline, so
        # the test confirms it in localstripe and delivers the webhook Stripe would send.
        click_and_wait(b, b.get_by_test_id("pay-by-card"))
        card = b.get_by_test_id("card-payment")
        intent_id = card.get_attribute("data-payment-intent")
        assert intent_id and intent_id.startswith("pi_"), intent_id
        expect(card).to_have_attribute("data-client-secret", re.compile(r"^pi_\w+_secret_"))
        screenshot(b, "card-payment")
        intent = step.confirm_in_localstripe(live_server.stripe_api_base, STRIPE_TEST_SECRET_KEY,
                                             intent_id)
        assert intent["status"] == "succeeded" and intent["amount"] == gross_b, intent
        assert intent["metadata"]["invoice_id"] == str(invoice_b)
        payload = json.dumps({"id": f"evt_e2e_{tag}", "object": "event",
                              "type": "payment_intent.succeeded",
                              "data": {"object": intent}}).encode()
        forged = step.sign_webhook(payload, "whsec_not_the_secret")
        assert step.deliver_webhook(base_url, payload, forged)[0] == 400
        status, body = step.deliver_webhook(
            base_url, payload, step.sign_webhook(payload, STRIPE_TEST_WEBHOOK_SECRET))
        assert status == 200 and body.get("invoice_id") == invoice_b, body
        assert body.get("new_payment") is True, body
        b.goto(f"/billing/invoices/{invoice_b}")
        expect(b.get_by_test_id("invoice-state")).to_have_attribute("data-state", "paid")
        expect(b.get_by_test_id("payments").locator("tbody tr")).to_have_count(1)
        expect(b.get_by_test_id("pay-by-card")).to_have_count(0)
        screenshot(b, "invoice-paid-by-card")
        card_paid = gross_b
    else:
        if _in_ci():
            pytest.fail("localstripe did not start for the e2e server (CI installs the dev extra)")
        card_paid = 0
        p.goto(f"/billing/invoices/{invoice_b}")
        p.get_by_test_id("record-transfer").locator("summary").click()
        transfer = p.get_by_test_id("transfer-form")
        transfer.locator("input[name=transfer-amount_yuan]").fill(step.fen_to_yuan(gross_b))
        click_and_wait(p, transfer.get_by_test_id("record-transfer-submit"))
        succeeded(p)
        expect(p.get_by_test_id("invoice-state")).to_have_attribute("data-state", "paid")

    # The provider's statement: its bank holds the transfer; the platform holds the card
    # payment for it; the platform's fee (a share of the net of both invoices) is deducted.
    p.goto("/billing/statement")
    accounts = {row.get_attribute("data-account"): int(row.get_attribute("data-fen"))
                for row in p.get_by_test_id("accounts").locator("tbody tr").all()}
    fee = accounts.get("platform_fee", 0)
    assert 0 < fee < net_a + net_b, accounts
    assert abs(fee - (net_a + net_b) * 3 / 100) <= 1, (fee, net_a, net_b)  # 3 % by default
    assert accounts.get("bank") == gross_a + (0 if card_paid else gross_b), accounts
    assert accounts.get("revenue") == -(net_a + net_b), accounts
    owed_to_provider = -fen_of(p, "balance")
    assert owed_to_provider == card_paid - fee, (owed_to_provider, card_paid, fee, accounts)
    screenshot(p, "statement")

    # ------------------------------------------------------------------ 5. filings
    for maker in makers:
        step.generate_filing(maker.page)
        step.confirm_joint_filing(maker.page, outlet_name)
    step.confirm_joint_filing(p, outlet_name)
    expect(p.get_by_test_id("joint-status")).to_have_attribute("data-confirmed", "true")
    expect(p.get_by_test_id("confirmations")).to_contain_text(maker_a.legal_name)
    expect(p.get_by_test_id("confirmations")).to_contain_text(maker_b.legal_name)
    screenshot(p, "joint-filing-confirmed")

    for maker in makers:
        m = maker.page
        step.generate_filing(m)
        expect(m.get_by_test_id("row-count")).to_have_text("1")
        expect(m.get_by_test_id("unconfirmed-count")).to_have_text("0")
        with m.expect_download() as download:
            m.get_by_test_id("download-xlsx").click()
        workbook = load_workbook(io.BytesIO(download.value.path().read_bytes()))
        rows = list(workbook["申报表"].iter_rows(values_only=True))
        header_at = next(i for i, row in enumerate(rows) if row and row[0] == "序号")
        columns = [rows[header_at].index(name) for name in FILING_HEADERS]
        body = [row for row in rows[header_at + 1:] if row and row[0] not in (None, "")]
        assert [tuple(row[c] for c in columns) for row in body] == [(maker.legal_name, outlet_name)]
    screenshot(maker_b.page, "filing")

    # No page of the journey threw a script error or broke the CSP.
    for page in pages:
        assert page.events.page_errors == [], page.events.page_errors
        assert page.events.csp_errors() == [], page.events.csp_errors()
