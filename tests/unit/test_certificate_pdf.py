"""The certificate PDF renders Chinese with an embedded font, and carries the verification link."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date

import pytest
from pypdf import PdfReader

from services import certificate_pdf
from services.certificate_pdf import CertificateDocument, render

CODE = "Qm9ndXMtY29kZS1mb3ItdGVzdHMtb25seQ"
URL = f"https://outletpool.example.cn/verify/OPC-2026-000042?code={CODE}"
DOCUMENT = CertificateDocument(
    number="OPC-2026-000042", verification_code=CODE, verify_url=URL, status="valid",
    outlet_name="南山回收服务网点", outlet_address="广东省深圳市南山区科技园南区10号",
    outlet_type="centralized_storage", provider_name="绿源电池综合利用有限公司",
    provider_name_en="Lvyuan Battery Utilization Co., Ltd.",
    scheme_name_zh="新能源汽车动力蓄电池回收服务网点认证规则",
    scheme_name_en="Certification scheme for NEV traction-battery recycling service outlets",
    scheme_code="OPC-RSO", scheme_version="2026.1", issuing_body="OutletPool",
    certifier_name="中诚认证中心有限公司", certifier_name_en="Zhongcheng Certification Centre",
    issued_on=date(2026, 1, 15), expires_on=date(2029, 1, 15),
    next_surveillance_due=date(2027, 1, 15), city_name="深圳市")


def read(document: CertificateDocument = DOCUMENT) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(render(document)))
    return reader, "".join(page.extract_text() for page in reader.pages)


def fonts(reader: PdfReader) -> dict[str, dict]:
    found = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            descriptor_owner = descendants[0].get_object() if descendants else font
            found[str(font["/BaseFont"])] = descriptor_owner.get("/FontDescriptor")
    return found


def test_one_a4_page_with_the_chinese_and_english_text():
    reader, text = read()
    assert len(reader.pages) == 1
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (595, 842)
    for expected in ("回收服务网点认证证书", "南山回收服务网点", "广东省深圳市南山区科技园南区10号",
                     "集中贮存型回收服务网点", "Centralized-storage recycling service outlet",
                     "绿源电池综合利用有限公司", "中诚认证中心有限公司", "Zhongcheng Certification Centre",
                     "新能源汽车动力蓄电池回收服务网点认证规则", "OPC-2026-000042",
                     "2026-01-15", "2029-01-15", "2027-01-15", CODE):
        assert expected in text, expected
    assert URL in text.replace("\n", "")


def test_the_cjk_font_is_embedded_not_borrowed_from_the_reader():
    reader, _ = read()
    embedded = {name: d for name, d in fonts(reader).items()
                if d is not None and "/FontFile2" in d.get_object()}
    assert any("WenQuanYiMicroHei" in name for name in embedded), fonts(reader)
    font_file = next(d for n, d in embedded.items()
                     if "WenQuanYiMicroHei" in n).get_object()["/FontFile2"]
    # a subset of the glyphs used, not the 1.3 MB file
    assert 1_000 < len(font_file.get_object().get_data()) < 400_000


def test_characters_outside_the_subset_fall_back_to_a_cid_font_instead_of_boxes():
    # 堃 喆 犇 are not in GB 2312; PDF readers draw them with their own Adobe-GB1 font
    reader, text = read(replace(DOCUMENT, provider_name="堃喆犇电池有限公司"))
    assert "电池有限公司" in text
    assert any(certificate_pdf.FALLBACK_FONT in name for name in fonts(reader))
    assert [run for run in certificate_pdf._runs("堃喆犇电池")] == [
        (certificate_pdf.FALLBACK_FONT, "堃喆犇"), (certificate_pdf.FONT, "电池")]
    assert not any(certificate_pdf.FALLBACK_FONT in name for name in fonts(read()[0]))


@pytest.mark.parametrize(("status", "banner"), [
    ("suspended", "本证书已暂停"), ("withdrawn", "本证书已撤销"), ("expired", "本证书已过期")])
def test_a_lapsed_certificate_says_so_across_the_page(status, banner):
    _, text = read(replace(DOCUMENT, status=status))
    assert banner in text and status.upper() in text


def test_a_valid_certificate_has_no_banner():
    _, text = read()
    assert "本证书已" not in text


def test_the_same_values_give_the_same_bytes():
    assert render(DOCUMENT) == render(DOCUMENT)


def test_long_names_wrap_inside_the_page():
    long_name = "广东省深圳市南山区科技园南区新能源汽车动力蓄电池回收服务网点第一分部" * 2
    lines = certificate_pdf.wrap(long_name, 20, 467)
    assert len(lines) > 1 and "".join(lines) == long_name
    assert all(certificate_pdf.text_width(line, 20) <= 467 for line in lines)
    url_lines = certificate_pdf.wrap(URL * 2, 8, 200)
    assert "".join(url_lines) == URL * 2 and len(url_lines) > 1
    words = certificate_pdf.wrap("Certification scheme for NEV traction-battery recycling", 11, 120)
    assert all(not line.startswith(" ") and not line.endswith(" ") for line in words)
    assert " ".join(words) == "Certification scheme for NEV traction-battery recycling"


def test_the_qr_code_drawn_is_the_verification_link():
    """Rebuild the module grid from the squares on the page; it must be the link's QR code."""
    import re

    import segno

    reader = PdfReader(io.BytesIO(render(DOCUMENT)))
    stream = reader.pages[0].get_contents().get_data().decode("latin-1")
    x0, y0, side = certificate_pdf.QR_X, certificate_pdf.QR_Y, certificate_pdf.QR_SIZE
    squares = [tuple(map(float, m)) for m in
               re.findall(r"([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+) re f\*", stream)]
    inside = [(x, y, w, h) for x, y, w, h in squares
              if x0 - 0.01 <= x < x0 + side and y0 - 0.01 <= y < y0 + side and w < side]
    expected = segno.make(URL, error="m", micro=False).matrix
    n = len(expected)
    module = side / n
    drawn = [[0] * n for _ in range(n)]
    for x, y, w, _h in inside:
        row = n - 1 - round((y - y0) / module)
        start = round((x - x0) / module)
        for column in range(start, start + round(w / module)):
            drawn[row][column] = 1
    assert drawn == [list(row) for row in expected]
