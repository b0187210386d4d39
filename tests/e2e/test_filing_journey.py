"""The outlet filing in a real browser: the demo maker generates a version and downloads it.

The demo maker holds an active agreement (seed-demo), so its filing has at least one row. The
XLSX and CSV downloaded through the page are what the regulator receives: Chinese headers in
the official order, the maker's legal name on every row, a UTF-8 BOM on the CSV for Excel, and
each file's SHA-256 equal to the one the page shows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

MAKER = "maker@outletpool.demo"
MAKER_NAME = "华南新能源汽车有限公司"
HEADERS = ["序号", "生产企业名称", "生产企业统一社会信用代码", "回收服务网点名称", "省份", "城市"]


def download(page, test_id: str) -> bytes:
    with page.expect_download() as info:
        page.get_by_test_id(test_id).click()
    with open(info.value.path(), "rb") as handle:
        return handle.read()


def test_maker_generates_and_downloads_its_filing(new_page, sign_in, screenshot):
    page = new_page("en-US")
    sign_in(page, MAKER)
    page.goto("/filings")
    with page.expect_navigation():
        page.get_by_test_id("generate").click()
    expect(page.locator(".flash-error")).to_have_count(0)
    # Generating lands on the new version (or its row in the list): open the newest version.
    if not re.search(r"/filings/\d+$", page.url):
        page.get_by_test_id("versions").locator("tbody tr a").first.click()
    expect(page.get_by_test_id("files")).to_be_visible()
    filed = int(page.get_by_test_id("row-count").inner_text())
    assert filed >= 1, "the demo maker's active agreement should be filed"
    shown = {row.locator("td").nth(0).inner_text().strip().lower():
             row.locator("code").inner_text().strip()
             for row in page.get_by_test_id("files").locator("tbody tr").all()}
    screenshot(page, "filing")

    xlsx = download(page, "download-xlsx")
    assert hashlib.sha256(xlsx).hexdigest() == shown["xlsx"]
    workbook = load_workbook(io.BytesIO(xlsx))
    assert {"封面", "申报表"} <= set(workbook.sheetnames)  # cover sheet and the table
    sheet = workbook["申报表"]
    rows = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    header_at = next(i for i, row in enumerate(rows) if row and row[0] == HEADERS[0])
    assert list(rows[header_at][:len(HEADERS)]) == HEADERS
    body = [row for row in rows[header_at + 1:] if row and row[0] not in (None, "")]
    assert len(body) == filed
    assert all(row[1] == MAKER_NAME for row in body)

    data = download(page, "download-csv")
    assert hashlib.sha256(data).hexdigest() == shown["csv"]
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header = next(row for row in table if row and row[0] == HEADERS[0])
    assert header[:len(HEADERS)] == HEADERS

    pdf = download(page, "download-pdf")
    assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == shown["pdf"]
    assert page.events.page_errors == [] and page.events.csp_errors() == []
