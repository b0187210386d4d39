"""A manufacturer's obligations in a real browser: figures in, obligations out, a plan to close them.

The demo maker (seeded by `flask seed-demo`, see conftest.py, with 2021-2025 sales in about a
dozen cities) signs in and:

(1) on /sales uploads a CSV with one bad row (refused: the row's line and reason, nothing
    saved), then the corrected file (accepted);
(2) on /obligations sees Shenzhen requiring collection and centralized storage (parc 9000 ≥ 8000)
    and Changsha collection only; the map draws circle markers; the CSV export has a BOM;
(3) on /coverage-plans computes a plan with the defaults and one with "certified outlets
    only", reads each detail page and compares the two;
(4) opens /cobuilding: the saving figure, or the reason there is nothing to share.
"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import no_browser_errors, path_of

pytestmark = pytest.mark.e2e

MAKER = "maker@outletpool.demo"
SHENZHEN, CHANGSHA = "440300", "430100"
HEADER = "城市,年份,销量,保有量"  # the CSV template's header row
GOOD_ROWS = ["440300,2025,1200,9000", "430100,2025,50,"]
CSV_BOM = b"\xef\xbb\xbf"
PLAN_PATH = re.compile(r"/coverage-plans/(\d+)")


def upload(page, path) -> int | None:
    form = page.get_by_test_id("sales-upload-form")
    form.locator("input[type=file]").set_input_files(str(path))
    with page.expect_navigation() as navigation:
        form.locator("[type=submit]").click()
    response = navigation.value
    return response.status if response else None


def sales_rows(page) -> list[str]:
    table = page.get_by_test_id("sales-table")
    if not table.count():
        return []
    return table.locator("tbody tr").all_inner_texts()


def compute_plan(page, *, certified_only: bool) -> int:
    page.goto("/coverage-plans")
    form = page.get_by_test_id("plan-form")
    certified = form.locator("input[name=certified_only]")
    if certified_only:
        certified.check()
    else:
        expect(certified).not_to_be_checked()
    with page.expect_navigation():
        form.locator("[type=submit]").click()
    match = PLAN_PATH.fullmatch(path_of(page))
    assert match, f"{page.url}: {page.locator('main').inner_text()[:2000]}"
    expect(page.locator(".flash-success")).to_be_visible()
    return int(match.group(1))


def check_plan_detail(page) -> tuple[int, int]:
    """The figures, and a table consistent with them; returns (covered, demands)."""
    figures = page.get_by_test_id("plan-figures")
    for label in ("Total annual cost", "Lower bound", "Optimality gap", "Greedy baseline",
                  "Obligations covered"):
        expect(figures.locator("dt", has_text=label)).to_have_count(1)
    expect(page.get_by_test_id("plan-status")).to_have_text(
        re.compile(r"^(Optimal|Time limit reached|Infeasible)$"))
    expect(page.get_by_test_id("plan-cost")).not_to_be_empty()
    expect(page.get_by_test_id("greedy-cost")).to_contain_text("covered")
    covered_text = figures.locator("dt:has-text('Obligations covered') + dd").inner_text()
    match = re.fullmatch(r"\s*(\d+)/(\d+)\s*", covered_text)
    assert match, covered_text
    covered, demands = int(match.group(1)), int(match.group(2))
    assert 0 <= covered <= demands
    assert demands >= 3  # at least Shenzhen's two obligations and Changsha's collection

    rows = page.get_by_test_id("assignments").locator("tbody tr")
    uncoverable = page.get_by_test_id("uncoverable")
    if covered:
        expect(rows).to_have_count(covered)
        expect(page.get_by_test_id("plan-cost")).to_have_text(re.compile(r"\d"))
    else:
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("Nothing to contract")
    if covered < demands:
        expect(uncoverable.locator("tbody tr")).to_have_count(demands - covered)
        for reason in uncoverable.locator("tbody tr td:nth-child(4)").all_inner_texts():
            assert reason.strip(), "an uncoverable obligation without its reason"
    else:
        expect(uncoverable).to_have_count(0)
    return covered, demands


@pytest.mark.parametrize("locale", ["en-US"])
def test_maker_uploads_sales_sees_obligations_plans_and_cobuilding(
        page, locale, new_page, sign_in, screenshot, tmp_path):
    sign_in(page, MAKER)

    # (1) /sales: the template link, then a file with one bad row is refused as a whole.
    page.goto("/sales")
    expect(page.get_by_test_id("template-links").locator("a[href*='csv']")).to_have_count(1)
    before = sales_rows(page)
    assert before, "the demo maker should already have seeded figures"
    bad = tmp_path / "sales-bad.csv"
    bad.write_text("\n".join([HEADER, GOOD_ROWS[0], "430100,2025,lots,"]) + "\n",
                   encoding="utf-8")
    assert upload(page, bad) == 422
    errors = page.get_by_test_id("sales-upload-errors")
    expect(errors).to_be_visible()
    expect(errors.locator("h3")).to_have_text("Nothing was saved")
    bad_line = errors.locator("tbody tr")
    expect(bad_line).to_have_count(1)
    expect(bad_line).to_have_attribute("data-line", "3")  # header is line 1
    expect(bad_line.locator("td").nth(0)).to_have_text("3")
    expect(bad_line.locator("td").nth(1)).to_have_text(re.compile("销量|Sales"))
    expect(bad_line.locator("td").nth(2)).not_to_be_empty()
    expect(page.get_by_test_id("sales-upload-result")).to_have_count(0)
    assert sales_rows(page) == before, "a refused file changed the figures"
    screenshot(page, "sales-upload-refused")
    # The refusal is a deliberate 422 (logged by Chromium as a failed load); nothing else.
    assert page.events.page_errors == []
    assert page.events.csp_errors() == []
    assert [status for status, _url in page.events.bad_responses] == [422]
    page.events.clear()

    # The corrected file is accepted.
    good = tmp_path / "sales-good.csv"
    good.write_text("\n".join([HEADER, *GOOD_ROWS]) + "\n", encoding="utf-8")
    assert upload(page, good) == 200
    expect(page.get_by_test_id("sales-upload-errors")).to_have_count(0)
    expect(page.get_by_test_id("sales-upload-result")).to_contain_text("Saved 2 records for 2025")
    table = page.get_by_test_id("sales-table")
    shenzhen = table.locator(f"tbody tr[data-division='{SHENZHEN}'][data-year='2025']")
    expect(shenzhen.locator("td").nth(2)).to_have_text("1200")
    expect(shenzhen.locator("td").nth(3)).to_have_text("9000")
    changsha = table.locator(f"tbody tr[data-division='{CHANGSHA}'][data-year='2025']")
    expect(changsha.locator("td").nth(2)).to_have_text("50")
    expect(changsha.locator("td").nth(3)).to_have_text("—")
    screenshot(page, "sales-upload-accepted")
    no_browser_errors(page, console=True)

    # (2) /obligations: Shenzhen both types, Changsha collection only; the map; the export.
    page.events.clear()
    page.goto("/obligations")
    report = page.get_by_test_id("obligations-table")
    sz = report.locator(f"tbody tr[data-division='{SHENZHEN}']")
    expect(sz).to_have_count(1)
    sz_required = sz.locator("td").nth(4)
    expect(sz_required.locator("span")).to_have_text(["Collection", "Centralized storage"])
    expect(sz_required).to_contain_text("9000")
    expect(sz_required).to_contain_text("8000")
    expect(sz.locator("td").nth(2)).to_contain_text("9000")
    cs = report.locator(f"tbody tr[data-division='{CHANGSHA}']")
    expect(cs).to_have_count(1)
    expect(cs.locator("td").nth(4).locator("span")).to_have_text(["Collection"])
    expect(cs.locator("td").nth(1)).to_contain_text("50")
    cities = int(page.get_by_test_id("count-cities").inner_text())
    expect(report.locator("tbody tr")).to_have_count(cities)

    obligations_map = page.get_by_test_id("obligations-map")
    expect(obligations_map).to_have_attribute("data-loaded", re.compile(r"^[1-9]\d*$"))
    markers = int(obligations_map.get_attribute("data-loaded"))
    assert 2 <= markers <= cities
    # Circle markers are SVG paths, one per city with coordinates.
    expect(obligations_map.locator("path.leaflet-interactive")).to_have_count(markers)
    page.wait_for_load_state("networkidle")
    screenshot(page, "obligations")
    no_browser_errors(page, console=True)

    with page.expect_download() as download_info:
        page.get_by_test_id("export-links").locator("a", has_text="CSV").click()
    raw = download_info.value.path().read_bytes()
    assert raw.startswith(CSV_BOM), raw[:20]
    exported = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(exported) == cities + 1, exported[:3]
    assert any(SHENZHEN in row for row in exported[1:])
    assert any(CHANGSHA in row for row in exported[1:])

    # The same page in Chinese, for the screenshot.
    zh = new_page("zh-CN")
    sign_in(zh, MAKER)
    zh.goto("/obligations")
    expect(zh.locator("html")).to_have_attribute("lang", re.compile(r"^zh"))
    zh_map = zh.get_by_test_id("obligations-map")
    expect(zh_map).to_have_attribute("data-loaded", str(markers))
    expect(zh.get_by_test_id("obligations-table").locator(
        f"tbody tr[data-division='{SHENZHEN}'] td").nth(4).locator("span")).to_have_count(2)
    zh.wait_for_load_state("networkidle")
    screenshot(zh, "obligations")
    no_browser_errors(zh, console=True)

    # (3) /coverage-plans: the defaults, then certified outlets only; compared.
    page.events.clear()
    first = compute_plan(page, certified_only=False)
    first_covered, demands = check_plan_detail(page)
    screenshot(page, "plan-defaults")

    second = compute_plan(page, certified_only=True)
    assert second != first
    second_covered, second_demands = check_plan_detail(page)
    assert second_demands == demands  # same obligations, fewer candidate outlets
    assert second_covered <= first_covered
    screenshot(page, "plan-certified-only")

    compare = page.get_by_test_id("compare-with")
    compare.locator("select[name=b]").select_option(str(first))
    with page.expect_navigation():
        compare.locator("[type=submit]").click()
    assert path_of(page) == "/coverage-plans/compare"
    assert parse_qs(urlsplit(page.url).query) == {"a": [str(second)], "b": [str(first)]}
    summary = page.get_by_test_id("compare-summary")
    expect(summary.locator("thead a")).to_have_text([f"#{second}", f"#{first}"])
    covered_row = summary.locator("tbody tr", has_text="Obligations covered").locator("td")
    expect(covered_row).to_have_text([f"{second_covered}/{demands}", f"{first_covered}/{demands}"])
    expect(page.get_by_test_id("compare-rows").locator("tbody tr").first).to_be_visible()
    screenshot(page, "plans-compared")

    # The plans list has both.
    page.goto("/coverage-plans")
    listed = page.get_by_test_id("plans").locator("tbody tr td:nth-child(2) a")
    assert {str(first), str(second)} <= set(listed.all_inner_texts())
    no_browser_errors(page, console=True)

    # (4) /cobuilding: the saving, or why there is none.
    page.events.clear()
    page.goto("/cobuilding")
    saving = page.get_by_test_id("cobuilding-saving")
    expect(saving).to_be_visible()
    explanation = saving.locator(".flash-info")
    if explanation.count() and "not comparable" in explanation.inner_text():
        # Not comparable: no saving figure is shown, so nobody reads ¥0 as a result.
        expect(page.get_by_test_id("saving")).to_have_count(0)
    elif explanation.count():
        expect(explanation).to_contain_text("sharing saves nothing")
    else:
        figure = page.get_by_test_id("saving").inner_text().strip()
        assert re.search(r"\d", figure), f"no saving figure and no explanation: {figure!r}"
    expect(saving.locator("dt", has_text="Your cost alone")).to_have_count(1)
    screenshot(page, "cobuilding")
    no_browser_errors(page, console=True)
    # The dashboard now carries the answer just computed (the demo maker takes part).
    page.goto("/dashboard")
    card = page.get_by_test_id("cobuilding-card")
    expect(card).to_contain_text(re.compile(r"computed on \d{4}-\d{2}-\d{2}"))
