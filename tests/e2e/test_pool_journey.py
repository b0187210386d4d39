"""The outlet pool in a real browser: a provider puts an outlet in the pool, a visitor finds it.

(1) A provider creates an outlet through the form (a rule violation first), answers the
    24-item self-assessment (a failing item first), uploads evidence, lists the outlet and
    saves a capacity offer.
(2) An anonymous visitor searches the pool by province and city, sees the clustered map
    without any tile server, opens an outlet, downloads the CSV; /stats shows its figures.

The live server holds the demo pool (`flask seed-demo`, see conftest.py), so (2) does not
depend on (1); run together, (2) also finds the Shenzhen outlet (1) listed.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import china_today, path_of

pytestmark = pytest.mark.e2e

PROVIDER = "provider@outletpool.demo"
ADDRESS = "广东省深圳市南山区科技园南区10号"
GUANGDONG, SHENZHEN = "440000", "440300"
FAILING_ITEM = 7  # the item answered "fail" on the first try
RULE_CITATION = re.compile(r"\(rule [A-Z][A-Za-z0-9.-]*-collection; source: .+\)")
CSV_BOM = b"\xef\xbb\xbf"


def submit(page, form) -> int | None:
    """Click the form's submit button; return the status of the page it lands on."""
    with page.expect_navigation() as navigation:
        form.locator("[type=submit]").first.click()
    response = navigation.value
    return response.status if response else None


def number_in(text: str) -> int:
    digits = re.sub(r"[^\d]", "", text)
    assert digits, f"no number in {text!r}"
    return int(digits)


# --------------------------------------------------------------------------- (1) provider


def fill_outlet_form(form, *, name: str, stored_t: str) -> None:
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=address]").fill(ADDRESS)
    form.locator("select[name=type]").select_option("collection")
    form.locator("select[name=establishment]").select_option("self_built")
    form.locator("input[name=storage_area_m2]").fill("20")
    form.locator("input[name=max_stored_weight_t]").fill(stored_t)
    form.locator("input[name=annual_capacity_t]").fill("300")
    form.locator("input[name=chemistries][value=LFP]").check()
    form.locator("input[name=safety_classes][value=A]").check()
    form.locator("input[name=opening_hours]").fill("周一至周五 9:00-17:00")
    form.locator("input[name=contact_name]").fill("刘测试")
    form.locator("input[name=contact_phone]").fill("0755-26660000")


def answer_assessment(page, outlet_id: int, *, failing: int | None) -> None:
    """Every item passes except `failing` (with a note); then "Complete assessment"."""
    page.goto(f"/outlets/{outlet_id}/assessment")
    form = page.get_by_test_id("assessment-form")
    passes = form.locator("input[type=radio][value=pass]")
    expect(passes).to_have_count(24)
    for radio in passes.all():
        radio.check()
    if failing is not None:
        form.locator(f"input[name=result-{failing}][value=fail]").check()
        form.locator(f"input[name=note-{failing}]").fill("灭火器已过期 / extinguisher expired")
    with page.expect_navigation():
        page.get_by_test_id("complete-assessment").click()
    assert path_of(page) == f"/outlets/{outlet_id}/manage", page.locator("main").inner_text()


@pytest.mark.parametrize("locale", ["en-US"])
def test_provider_creates_assesses_lists_and_offers_an_outlet(page, locale, sign_in, screenshot,
                                                              tmp_path):
    name = f"E2E南山科技园回收服务网点-{uuid.uuid4().hex[:6]}"
    sign_in(page, PROVIDER)
    page.goto("/outlets/mine")
    with page.expect_navigation():
        page.locator("main a[href='/outlets/new']").click()
    assert path_of(page) == "/outlets/new"
    form = page.get_by_test_id("outlet-form")

    # A collection outlet may hold at most 5 t: 9 t is refused next to the field, citing the rule.
    fill_outlet_form(form, name=name, stored_t="9")
    assert submit(page, form) == 422
    assert path_of(page) == "/outlets/new"
    form = page.get_by_test_id("outlet-form")
    error = form.locator("small.field-error[data-field=max_stored_weight_t]")
    expect(error).to_have_count(1)
    expect(error).to_be_visible()
    expect(error).to_contain_text("≤ 5")
    expect(error).to_contain_text(RULE_CITATION)
    weight = form.locator("input[name=max_stored_weight_t]")
    expect(weight).to_have_attribute("aria-invalid", "true")
    # The error sits with its own field, inside that field's label.
    expect(form.locator("label[for=max_stored_weight_t] small.field-error")).to_have_count(1)
    expect(form.locator("small.field-error")).to_have_count(1)
    expect(form.locator("input[name=name]")).to_have_value(name)
    expect(form.locator("input[name=address]")).to_have_value(ADDRESS)
    screenshot(page, "outlet-rule-violation")

    weight.fill("4")
    assert submit(page, form) == 200
    match = re.fullmatch(r"/outlets/(\d+)/manage", path_of(page))
    assert match, page.locator("main").inner_text()
    outlet_id = int(match.group(1))
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.get_by_test_id("outlet-status")).to_have_text("Draft")
    expect(page.locator("main")).to_contain_text(ADDRESS)
    expect(page.get_by_test_id("move-listed")).to_have_count(1)

    # Self-assessment, one item failing: the gap report names it.
    answer_assessment(page, outlet_id, failing=FAILING_ITEM)
    expect(page.locator(".flash-info")).to_contain_text("not compliant yet")
    gaps = page.get_by_test_id("gap-report")
    expect(gaps.locator(".badge-rejected")).to_have_text("Not compliant")
    failing = gaps.locator("li strong")
    expect(failing).to_have_count(1)
    expect(failing).to_contain_text(re.compile(rf"^{FAILING_ITEM}\. \S"))
    screenshot(page, "gap-report-failing")

    # The draft cannot be listed while it fails (the service refuses it too: integration tests).
    expect(page.get_by_test_id("move-listed").locator("[type=submit]")).to_be_disabled()
    expect(page.get_by_test_id("outlet-status")).to_have_text("Draft")

    # Fixed: a new version with every item passing.
    page.goto(f"/outlets/{outlet_id}/assessment")
    expect(page.locator(f"input[name=result-{FAILING_ITEM}][value=fail]")).to_be_checked()
    answer_assessment(page, outlet_id, failing=None)
    expect(page.locator(".flash-success")).to_contain_text("compliant")
    gaps = page.get_by_test_id("gap-report")
    expect(gaps.locator(".badge-verified")).to_have_text("Compliant")
    expect(gaps.locator("li")).to_have_count(0)
    expect(gaps).to_contain_text("version 2")

    # Evidence: a (tiny) PDF for the item that failed.
    pdf = tmp_path / "extinguisher-inspection.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    evidence = page.get_by_test_id("evidence-form")
    evidence.locator("input[type=file]").set_input_files(str(pdf))
    evidence.locator("select").select_option(str(FAILING_ITEM))
    with page.expect_navigation():
        evidence.locator("[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("Evidence uploaded")
    row = page.locator("#evidence tbody tr", has_text=pdf.name)
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_have_text(str(FAILING_ITEM))

    # Listed in the pool.
    with page.expect_navigation():
        page.get_by_test_id("move-listed").locator("[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("Status changed")
    expect(page.get_by_test_id("outlet-status")).to_have_text("Listed")

    # A capacity offer.
    offer = page.get_by_test_id("offer-form")
    offer.locator("input[name=offer-capacity_t_per_year]").fill("200")
    offer.locator("input[name=offer-min_term_months]").fill("12")
    offer.locator("input[name=offer-annual_fee_yuan]").fill("12000")
    offer.locator("input[name=offer-handling_fee_yuan_per_t]").fill("800")
    offer.locator("input[name=offer-available_from]").fill(china_today().isoformat())
    assert submit(page, offer) == 200
    expect(page.locator(".flash-success")).to_contain_text("Capacity offer saved")
    offer = page.get_by_test_id("offer-form")
    expect(offer.locator("input[name=offer-capacity_t_per_year]")).to_have_value(
        re.compile(r"^200(\.0+)?$"))
    expect(offer.locator("small.field-error")).to_have_count(0)
    screenshot(page, "outlet-listed-with-offer")

    # "My outlets": found by its name, listed and compliant; the Listed tab has it, Draft not.
    page.goto("/outlets/mine")
    search = page.get_by_test_id("outlet-filter")
    search.locator("input[name=q]").fill(name)
    with page.expect_navigation():
        search.locator("[type=submit]").click()
    row = page.get_by_test_id("outlets").locator("tbody tr", has_text=name)
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "listed")
    expect(row.locator(".badge-verified").filter(has_text="Compliant")).to_have_count(1)
    screenshot(page, "my-outlets")
    page.get_by_test_id("status-filter").get_by_role("link", name=re.compile("^Draft")).click()
    expect(page.get_by_test_id("no-match")).to_be_visible()

    # Its public page shows the offer.
    page.goto(f"/outlets/{outlet_id}")
    expect(page.get_by_test_id("outlet-name")).to_have_text(name)
    expect(page.get_by_test_id("outlet-prices")).to_contain_text("200")
    assert page.events.page_errors == []
    assert page.events.csp_errors() == []


# --------------------------------------------------------------------------- (2) visitor


def _off_site(requests: list[str], base_url: str) -> list[str]:
    return [url for url in requests
            if not url.startswith(base_url + "/") and not url.startswith(("data:", "blob:"))]


@pytest.mark.parametrize("locale", ["zh-CN"])
def test_visitor_searches_pool_map_detail_export_and_stats(page, locale, base_url, screenshot):
    page.goto("/pool")
    expect(page.get_by_test_id("pool-total")).to_be_visible()
    filters = page.get_by_test_id("pool-filters")

    # Province -> city: the city list is filled from the divisions API once a province is chosen.
    filters.locator("#f-province").select_option(GUANGDONG)
    expect(filters.locator(f"#f-city option[value='{SHENZHEN}']")).to_have_count(1)
    expect(filters.locator("#f-city")).to_be_enabled()
    filters.locator("#f-city").select_option(SHENZHEN)
    with page.expect_navigation():
        page.get_by_test_id("pool-search").click()
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"province": [GUANGDONG], "city": [SHENZHEN]}, page.url  # empty fields dropped
    expect(filters.locator("#f-province")).to_have_value(GUANGDONG)
    expect(filters.locator("#f-city")).to_have_value(SHENZHEN)

    rows = page.get_by_test_id("pool-results").locator("tbody tr[data-outlet-id]")
    expect(rows.first).to_be_visible()
    count = rows.count()
    total = number_in(page.get_by_test_id("pool-total").locator("strong").inner_text())
    assert total >= count >= 1
    for location in rows.locator("td:nth-child(3)").all_inner_texts():
        assert "深圳" in location, location

    # The map: clustered markers for the matches, drawn with no tile server at all.
    pool_map = page.get_by_test_id("pool-map")
    expect(pool_map).to_have_attribute("data-loaded", re.compile(r"^[1-9]\d*$"))
    assert 1 <= int(pool_map.get_attribute("data-loaded")) <= total
    # Markers or clusters (both are marker icons in Leaflet's marker pane).
    expect(pool_map.locator(".leaflet-marker-pane .leaflet-marker-icon").first).to_be_visible()
    expect(pool_map.locator(".leaflet-tile")).to_have_count(0)
    expect(pool_map.locator(".province-label", has_text="广东")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    screenshot(page, "pool-shenzhen")
    assert page.events.page_errors == []
    assert page.events.csp_errors() == []
    assert page.events.console_errors() == []
    assert page.events.bad_responses == []
    assert _off_site(page.events.requests, base_url) == [], "the pool page left 127.0.0.1"

    # The CSV of the result: UTF-8 with a BOM, a header row, one row per match.
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    download = download_info.value
    assert re.fullmatch(r"outletpool-registry-\d{8}-\d{4}\.csv", download.suggested_filename)
    raw = download.path().read_bytes()
    assert raw.startswith(CSV_BOM), raw[:20]
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, data = table[0], table[1:]
    assert header[:2] == ["ID", "网点"], header
    assert len(header) >= 10 and all(header), header
    assert len(data) == total
    ids = {row[0] for row in data}
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.outletId)")) <= ids
    assert {row[header.index("城市")] for row in data} == {"深圳市"}, header

    # One outlet's public page, with its own map.
    first = rows.first.locator("td a").first
    name = first.inner_text().strip()
    with page.expect_navigation():
        first.click()
    assert re.fullmatch(r"/outlets/\d+", path_of(page)), page.url
    expect(page.get_by_test_id("outlet-name")).to_have_text(name)
    expect(page.get_by_test_id("outlet-map")).to_have_attribute("data-loaded", "1")
    expect(page.get_by_test_id("outlet-map").locator(".leaflet-marker-icon")).to_have_count(1)
    expect(page.get_by_test_id("compliance")).to_be_visible()
    screenshot(page, "outlet-detail")

    # National statistics: the headline figures.
    page.events.clear()
    page.goto("/stats")
    page.wait_for_load_state("networkidle")
    total_outlets = number_in(page.get_by_test_id("total-outlets").inner_text())
    listed_outlets = number_in(page.get_by_test_id("listed-outlets").inner_text())
    assert total_outlets >= 31  # the demo pool covers every province
    assert 0 < listed_outlets <= total_outlets
    expect(page.get_by_test_id("provinces-covered")).to_have_text(re.compile(r"^\d+ / \d+$"))
    expect(page.get_by_test_id("by-province").locator("tbody tr").first).to_be_visible()
    screenshot(page, "stats")
    assert page.events.console_errors() == []
    assert page.events.csp_errors() == []
    assert page.events.page_errors == []
    assert page.events.bad_responses == []
    assert _off_site(page.events.requests, base_url) == []
