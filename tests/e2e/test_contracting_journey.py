"""Contracting in a real browser: from a request on the outlet page to an agreement in force.

The demo maker (English, its own browser context) requests capacity at one of the demo
provider's listed outlets from the pool's outlet page; the provider (Chinese) counters with
less tonnage and another annual fee typed in yuan; the maker reads the negotiation and accepts
the counter, which issues agreement version 1; the maker signs (a wrong password first), the
provider signs, and both see the agreement active, its version with both signature records.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD
from tests.e2e.helpers import china_today, click_and_wait, no_browser_errors, path_of

pytestmark = pytest.mark.e2e

MAKER = "maker@outletpool.demo"
MAKER_NAME = "华南新能源汽车有限公司"
PROVIDER = "provider@outletpool.demo"
PROVIDER_NAME = "绿源电池综合利用有限公司"
REQUEST_PATH = re.compile(r"/contracts/requests/(\d+)")
AGREEMENT_PATH = re.compile(r"/contracts/agreements/(\d+)")


def no_flash_errors(page) -> None:
    errors = page.locator(".flash-error").all_inner_texts()
    assert errors == [], errors


@pytest.fixture
def maker(new_page, sign_in):
    page = new_page("en-US")
    sign_in(page, MAKER)
    return page


@pytest.fixture
def provider(new_page, sign_in):
    page = new_page("zh-CN")
    sign_in(page, PROVIDER)
    return page


def outlet_with_free_capacity(provider, maker) -> int:
    """One of the demo provider's listed outlets whose pool page offers the maker a request,
    with none of its capacity taken yet (so no other manufacturer is party to sign)."""
    provider.goto("/outlets/mine?status=listed")
    links = provider.get_by_test_id("outlets").locator("a[href$='/manage']")
    expect(links.first).to_be_attached()
    ids = [int(re.search(r"/outlets/(\d+)/manage", href).group(1))
           for href in (link.get_attribute("href") for link in links.all())]
    for outlet_id in ids:
        maker.goto(f"/outlets/{outlet_id}")
        left = maker.get_by_test_id("capacity-left")
        if maker.get_by_test_id("request-form").count() and \
                float(left.get_attribute("data-left")) == float(left.get_attribute("data-offered")):
            return outlet_id
    raise AssertionError(f"no listed outlet of the demo provider takes a request: {ids}")


def test_request_counter_accept_sign_active(maker, provider, screenshot):
    outlet_id = outlet_with_free_capacity(provider, maker)
    assert path_of(maker) == f"/outlets/{outlet_id}"

    # --- the maker requests capacity from the outlet page
    panel = maker.get_by_test_id("request-capacity")
    expect(panel.get_by_test_id("capacity-left")).to_contain_text("t/year")
    form = panel.get_by_test_id("request-form")
    expect(form.locator("input[name=start_date]")).to_have_value(china_today().isoformat())
    expect(form.locator("input[name=term_months]")).not_to_have_value("")
    form.locator("input[name=tonnes_per_year]").fill("2")
    form.locator("select[name=form]").select_option("co_built")
    form.locator("textarea[name=message]").fill("Coverage for our Shenzhen dealers")
    screenshot(maker, "request-form")
    click_and_wait(maker, form.get_by_test_id("send-request"))
    match = REQUEST_PATH.fullmatch(path_of(maker))
    assert match, maker.locator("main").inner_text()[:2000]
    request_id = int(match.group(1))
    no_flash_errors(maker)
    expect(maker.locator(".flash-success")).to_contain_text(PROVIDER_NAME)
    expect(maker.get_by_test_id("request-status")).to_have_attribute("data-status", "requested")
    expect(maker.get_by_test_id("waiting-on")).to_contain_text("the provider")

    maker.goto("/contracts/requests")
    row = maker.get_by_test_id("requests").locator(f"tr[data-request-id='{request_id}']")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("request-status")).to_have_attribute("data-status", "requested")

    # --- the provider finds it waiting on them, and counters in yuan
    provider.goto("/contracts/requests")
    row = provider.get_by_test_id("requests").locator(f"tr[data-request-id='{request_id}']")
    expect(row).to_contain_text(MAKER_NAME)
    expect(row.get_by_test_id("your-move")).to_be_visible()
    click_and_wait(provider, row.locator("a").first)
    assert path_of(provider) == f"/contracts/requests/{request_id}"
    expect(provider.get_by_test_id("term-tonnes")).to_have_text("2")
    counter = provider.get_by_test_id("counter")
    counter.locator("summary").click()
    counter_form = counter.get_by_test_id("counter-form")
    counter_form.locator("input[name=counter-tonnes_per_year]").fill("1.5")
    counter_form.locator("input[name=counter-annual_fee_yuan]").fill("8888.88")
    counter_form.locator("textarea[name=counter-message]").fill("1.5 吨可用 / 1.5 t available")
    screenshot(provider, "counter-form")
    click_and_wait(provider, counter_form.get_by_test_id("send-counter"))
    no_flash_errors(provider)
    expect(provider.get_by_test_id("request-status")).to_have_attribute("data-status", "countered")
    expect(provider.get_by_test_id("term-annual-fee")).to_contain_text("8,888.88")

    # --- the maker reads the negotiation and accepts the counter
    maker.goto(f"/contracts/requests/{request_id}")
    expect(maker.get_by_test_id("request-status")).to_have_attribute("data-status", "countered")
    history = maker.get_by_test_id("history")
    expect(history.locator("li[data-event]")).to_have_count(2)
    expect(history.locator("li[data-event='counter']")).to_contain_text("8,888.88")
    expect(history.locator("li[data-event='counter']")).to_contain_text("1.5 t available")
    screenshot(maker, "countered")
    click_and_wait(maker, maker.get_by_test_id("accept-counter"))
    match = AGREEMENT_PATH.fullmatch(path_of(maker))
    assert match, maker.locator("main").inner_text()[:2000]
    agreement_id = int(match.group(1))
    no_flash_errors(maker)
    expect(maker.get_by_test_id("agreement-status")).to_have_attribute(
        "data-status", "pending_signatures")
    expect(maker.get_by_test_id("missing-signatures")).to_contain_text(MAKER_NAME)
    expect(maker.get_by_test_id("missing-signatures")).to_contain_text(PROVIDER_NAME)
    number = maker.get_by_test_id("agreement-number").inner_text().strip()
    assert re.fullmatch(r"OP-AG-\d{4}-\d{6}", number), number

    # --- the maker signs: a wrong password is refused on the form, then it signs
    sign_form = maker.get_by_test_id("sign-form")
    sha = maker.get_by_test_id("pending-sha256").inner_text().strip()
    expect(sign_form.locator("input[name=sign-document_sha256]")).to_have_value(sha)
    sign_form.locator("input[name=sign-password]").fill("not-the-password")
    response = click_and_wait(maker, sign_form.get_by_test_id("sign"))
    assert response.status == 422
    expect(maker.locator("[data-field='sign-password']")).to_be_visible()
    sign_form = maker.get_by_test_id("sign-form")
    sign_form.locator("input[name=sign-password]").fill(DEMO_PASSWORD)
    click_and_wait(maker, sign_form.get_by_test_id("sign"))
    no_flash_errors(maker)
    expect(maker.locator(".flash-success")).to_be_visible()
    expect(maker.get_by_test_id("sign-form")).to_have_count(0)
    expect(maker.get_by_test_id("missing-signatures")).not_to_contain_text(MAKER_NAME)
    no_browser_errors(maker, allowed_statuses=(422,))  # the deliberate refusal, nothing else
    maker.events.clear()

    # --- the provider signs: the agreement comes into force
    provider.goto(f"/contracts/agreements/{agreement_id}")
    expect(provider.get_by_test_id("pending-sha256")).to_have_text(sha)
    provider.get_by_test_id("sign-form").locator("input[name=sign-password]").fill(DEMO_PASSWORD)
    click_and_wait(provider, provider.get_by_test_id("sign"))
    no_flash_errors(provider)
    expect(provider.get_by_test_id("agreement-status")).to_have_attribute("data-status", "active")
    expect(provider.get_by_test_id("signing")).to_have_count(0)
    allocation = provider.get_by_test_id("allocation-row")
    expect(allocation).to_have_count(1)
    expect(allocation).to_contain_text(MAKER_NAME)
    expect(allocation.get_by_test_id("allocation-state")).to_have_attribute("data-state", "active")
    screenshot(provider, "agreement-active")
    no_browser_errors(provider)

    # --- the maker sees it active, and version 1 with both signature records
    maker.goto("/contracts/agreements")
    row = maker.get_by_test_id("agreements").locator(f"tr[data-agreement-id='{agreement_id}']")
    expect(row.get_by_test_id("agreement-status")).to_have_attribute("data-status", "active")
    click_and_wait(maker, row.locator("a").first)
    expect(maker.get_by_test_id("version-row")).to_have_count(1)
    click_and_wait(maker, maker.get_by_test_id("read-version").first)
    expect(maker.get_by_test_id("document-sha256")).to_contain_text(sha)
    expect(maker.get_by_test_id("responsibilities").locator("li").first).to_be_visible()
    expect(maker.get_by_test_id("signature-row")).to_have_count(2)
    expect(maker.get_by_test_id("signatures")).to_contain_text(PROVIDER_NAME)
    with maker.expect_download() as download:
        maker.get_by_test_id("pdf-links").locator("a[hreflang=en]").click()
    assert download.value.suggested_filename == f"{number}-v1-en.pdf"
    screenshot(maker, "version")
    no_browser_errors(maker)
