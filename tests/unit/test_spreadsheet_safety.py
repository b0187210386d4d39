"""Formula injection, encodings, decompression bombs and path tricks (services/spreadsheet_safety.py)
and the exports that use it."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from services import filing_documents, registry_export
from services.spreadsheet_safety import (
    UnreadableUpload,
    check_xlsx,
    decode_upload,
    safe_cell,
    safe_filename,
    safe_row,
)

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
           "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_is_quoted(text):
    assert safe_cell(text) == "'" + text


def test_numbers_and_plain_text_stay_as_they_are():
    plain = [-5, 3.5, 0, None, "深圳回收点", "a=b", ""]
    assert safe_row(plain) == plain


def test_the_registry_export_neutralises_every_text_cell_in_csv_and_xlsx():
    cols = [registry_export.Column("name", "Outlet", lambda r: r["name"]),
            registry_export.Column("n", "N", lambda r: r["n"])]
    rows = [{"name": text, "n": -3} for text in HOSTILE]
    lines = list(csv.reader(io.StringIO(registry_export.to_csv(rows, cols).decode("utf-8-sig"))))
    assert [line[0] for line in lines[1:]] == ["'" + t for t in HOSTILE]
    assert {line[1] for line in lines[1:]} == {"-3"}
    sheet = load_workbook(io.BytesIO(registry_export.to_xlsx(rows, cols))).worksheets[0]
    cells = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [c[0] for c in cells] == ["'" + t.replace("\r", "\n") for t in HOSTILE]  # XML keeps no CR
    assert {c[1] for c in cells} == {-3}


def test_filing_tables_and_public_list_neutralise_text_cells():
    layout = {"title": "T", "sheet": "S", "columns": [{"key": "outlet_name", "header": "网点"},
                                                     {"key": "area", "header": "面积"}]}
    rows = [{"values": {"outlet_name": "=1+1", "area": -20}}]
    text = filing_documents.to_csv(rows, layout).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1] == ["'=1+1", "-20"]
    sheet = load_workbook(io.BytesIO(filing_documents.public_list_xlsx(rows, layout, "sub"))).worksheets[0]
    assert ("'=1+1", -20) in list(sheet.iter_rows(values_only=True))


# --- decoding -----------------------------------------------------------------------------

TEXT = "城市,年份,销量\n深圳市,2025,100\n"


@pytest.mark.parametrize("content", [TEXT.encode("utf-8"), TEXT.encode("utf-8-sig"), TEXT.encode("gbk"),
                                     TEXT.encode("gb18030")])
def test_utf8_with_or_without_bom_and_gbk_decode(content):
    assert decode_upload(content) == TEXT


@pytest.mark.parametrize("content", [TEXT.encode("utf-16"), b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
                                     b"\xff\xfe\xff\xfe broken"])
def test_other_encodings_and_binary_files_get_a_clear_error(content):
    with pytest.raises(UnreadableUpload) as caught:
        decode_upload(content)
    assert "UTF-8" in caught.value.reason and caught.value.fields == {"file": [caught.value.reason]}


# --- XLSX bombs ------------------------------------------------------------------------------

def _workbook() -> bytes:
    workbook = Workbook()
    workbook.active.append(["城市", "年份", "销量"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_a_real_workbook_passes():
    check_xlsx(_workbook())


def test_a_decompression_bomb_is_refused_before_it_expands():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("xl/worksheets/sheet1.xml", "w") as member:
        for _ in range(16):
            member.write(b"\0" * (1024 * 1024))
    assert len(out.getvalue()) < 100_000
    with pytest.raises(UnreadableUpload, match="bomb"):
        check_xlsx(out.getvalue())


def test_a_workbook_that_would_unpack_too_large_is_refused(monkeypatch):
    from services import spreadsheet_safety

    monkeypatch.setattr(spreadsheet_safety, "XLSX_MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(UnreadableUpload, match="unpack"):
        check_xlsx(_workbook())


@pytest.mark.parametrize("content", [b"not a zip at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, b""])
def test_something_else_behind_an_xlsx_name_is_refused(content):
    with pytest.raises(UnreadableUpload, match="xlsx"):
        check_xlsx(content)


# --- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd.jpg", "passwd.jpg"), ("..\\..\\windows\\win.ini", "win.ini"),
    ("photo\x00.php.jpg", "photo.php.jpg"), ("/abs/path/现场照片.png", "现场照片.png"),
    ("..", "upload"), ("", "upload"), (None, "upload"), (".htaccess", "htaccess"),
    ("a\r\nSet-Cookie: x.jpg", "aSet-Cookie: x.jpg"), ("x" * 300 + ".jpg", "x" * 255),
])
def test_uploaded_names_lose_path_parts_and_control_characters(name, expected):
    assert safe_filename(name) == expected
