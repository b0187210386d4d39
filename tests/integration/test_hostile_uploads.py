"""Hostile and malformed uploads through the API: encodings, files of another type behind the
right extension, a decompression bomb, path tricks in names, and formula injection in exports."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from PIL import Image

from tests.integration.test_import_and_stats import as_csv, as_xlsx, regulator_rows, upload

EN = {"Accept-Language": "en"}
SALES = "/api/v1/manufacturers/me/sales"
SALES_TEXT = "城市,年份,销量,保有量\n深圳市,2025,1200,5300\n长沙市,2025,800,\n"


@pytest.fixture
def provider(make_party):
    return make_party("provider")


@pytest.fixture
def maker(make_party):
    return make_party("manufacturer")


def _bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("xl/worksheets/sheet1.xml", "w") as member:
        for _ in range(32):
            member.write(b"<row/>" * (1024 * 1024 // 6))
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(out, "JPEG")
    return out.getvalue()


# --- outlet import -----------------------------------------------------------------------------

def test_outlet_import_reads_gbk_as_well_as_utf8(client, provider):
    rows = regulator_rows(3)
    utf8 = as_csv(rows)
    gbk = utf8.decode("utf-8").encode("gbk")
    response = upload(client, provider, gbk, dry_run="true")
    assert response.status_code == 200, response.get_json()
    same = upload(client, provider, utf8, dry_run="true").get_json()
    assert {**response.get_json(), "file_sha256": None} == {**same, "file_sha256": None}


@pytest.mark.parametrize(("content", "name", "says"), [
    ("utf16", "outlets.csv", "UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\0" * 200, "outlets.csv", "not a text"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\0" * 200, "outlets.xlsx", "xlsx"),
    ("bomb", "outlets.xlsx", "bomb"),
])
def test_outlet_import_refuses_what_it_cannot_read_with_a_clear_reason(client, provider, content, name,
                                                                        says):
    if content == "utf16":
        content = as_csv(regulator_rows(2)).decode("utf-8").encode("utf-16")
    elif content == "bomb":
        content = _bomb()
    response = upload(client, provider, content, filename=name)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert says in str(error["fields"]), error


def test_a_real_xlsx_still_imports(client, provider):
    response = upload(client, provider, as_xlsx(regulator_rows(2)), filename="outlets.xlsx", dry_run="true")
    assert response.status_code == 200, response.get_json()


# --- sales import --------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_sales_import_reads_utf8_with_or_without_bom_and_gbk(client, maker, encoding):
    response = client.put(SALES, headers={**maker.headers, **EN}, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(SALES_TEXT.encode(encoding)), "sales.csv")})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["records"] == 2


def test_sales_import_refuses_utf16_and_bombs(client, maker):
    for content, name in ((SALES_TEXT.encode("utf-16"), "sales.csv"), (_bomb(), "sales.xlsx")):
        response = client.put(SALES, headers={**maker.headers, **EN}, content_type="multipart/form-data",
                              data={"file": (io.BytesIO(content), name)})
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["error"]["fields"]


# --- bank statements ------------------------------------------------------------------------------

def test_bank_statements_read_gbk_and_refuse_utf16(client, provider):
    path = f"/api/v1/organizations/{provider.organization_id}/bank-statements"
    text = "日期,金额,附言\n2026-11-20,100.00,无此参考号\n"
    for encoding in ("utf-8-sig", "gbk"):
        response = client.post(path, data=text.encode(encoding), content_type="text/csv",
                               headers={**provider.headers, **EN})
        assert response.status_code == 200, response.get_json()
        assert len(response.get_json()["unmatched"]) == 1
    refused = client.post(path, data=text.encode("utf-16"), content_type="text/csv",
                          headers={**provider.headers, **EN})
    assert refused.status_code == 422
    assert "UTF-8" in refused.get_json()["error"]["fields"]["file"][0]


# --- evidence names ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kept"), [("../../etc/passwd.jpg", "passwd.jpg"),
                                            ("现场\x00照片.jpg", "现场照片.jpg"),
                                            ("..\\..\\boot.ini.jpg", "boot.ini.jpg")])
def test_evidence_names_lose_path_parts_and_nul_bytes(app, client, shared_outlet, name, kept):
    outlet_id, provider = shared_outlet
    response = client.post(f"/api/v1/outlets/{outlet_id}/evidence", headers=provider.headers,
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(_jpeg()), name)})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["original_name"] == kept
    download = client.get(f"/api/v1/evidence/{response.get_json()['id']}/file", headers=provider.headers)
    assert download.status_code == 200 and download.data == _jpeg()


def test_a_pdf_name_on_a_script_is_refused_by_content(client, shared_outlet):
    outlet_id, provider = shared_outlet
    response = client.post(f"/api/v1/outlets/{outlet_id}/evidence", headers={**provider.headers, **EN},
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(b"#!/bin/sh\nrm -rf /\n"), "report.pdf")})
    assert response.status_code == 422 and "file" in response.get_json()["error"]["fields"]


# --- formula injection in exports -------------------------------------------------------------------

def test_pool_export_quotes_a_formula_like_outlet_name(app, client, shared_outlet):
    from app.extensions import db
    from app.models import Outlet

    outlet_id, _provider = shared_outlet
    with app.app_context():
        db.session.get(Outlet, outlet_id).name = '=HYPERLINK("http://evil.example","点此")'
        db.session.commit()
    body = client.get("/api/v1/outlets/export?format=csv").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert '\'=HYPERLINK("http://evil.example","点此")' in rows[1]
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
