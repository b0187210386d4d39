"""The agreement PDF: both languages, every party and allocation, flowing over pages."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader

from services import agreement_document, agreement_pdf, certificate_pdf

PROVIDER = {"id": 3, "legal_name": "深圳绿源回收有限公司", "credit_code": "91440300MA5FL3QX2K"}
MAKER = {"id": 5, "legal_name": "华南新能源汽车股份有限公司", "credit_code": "91440300MA5G7TPD8R"}
OUTLET = {"id": 7, "name": "深圳宝安集中贮存网点", "address": "广东省深圳市宝安区西乡街道固戍二路18号",
          "type": "centralized_storage", "city_code": "440300", "city_name": "深圳市"}


def allocation(maker: dict, **overrides) -> dict:
    return {"manufacturer": maker, "allocation_id": 11, "tonnes_per_year": 120.0, "form": "co_built",
            "start_date": "2026-12-01", "end_date": "2027-12-01", "term_months": 12,
            "annual_fee_fen": 1_200_000, "handling_fee_fen_per_t": 30_000, "status": "active",
            **overrides}


def document(allocations: list[dict] | None = None) -> dict:
    return agreement_document.build(
        number="OP-AG-2026-000001", version=2, reason="join", issued_on=date(2026, 11, 25),
        outlet=OUTLET, provider=PROVIDER, allocations=allocations or [allocation(MAKER)],
        offered_t_per_year=500.0)


DOCUMENT = document()
SHA = agreement_document.sha256_of(DOCUMENT)
PROVIDER_SIGNATURE = {"organization_id": 3, "organization": PROVIDER["legal_name"],
                      "credit_code": PROVIDER["credit_code"], "signer": "张伟",
                      "signed_at": "2026-11-26T10:15:00+08:00", "ip_address": "203.0.113.7",
                      "document_sha256": SHA}
MAKER_SIGNATURE = {"organization_id": 5, "organization": MAKER["legal_name"],
                   "credit_code": MAKER["credit_code"], "signer": "李娜",
                   "signed_at": "2026-11-27T09:02:41+08:00", "ip_address": "198.51.100.23",
                   "document_sha256": SHA}


def render(doc: dict = DOCUMENT, *, status: str = "in_force", signatures: list[dict] | None = None,
           sha: str = SHA, lang: str = "zh") -> bytes:
    if signatures is None:
        signatures = [PROVIDER_SIGNATURE, MAKER_SIGNATURE]
    return agreement_pdf.render(doc, status=status, signatures=signatures, document_sha256=sha,
                                lang=lang)


def read(pdf: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, [page.extract_text() for page in reader.pages]


def flat(text: str) -> str:
    """Table cells wrap; compare without the line breaks."""
    return text.replace("\n", "").replace(" ", "")


def test_a_chinese_agreement_on_a4_with_every_section():
    pdf = render()
    assert pdf.startswith(b"%PDF")
    reader, pages = read(pdf)
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (595, 842)
    text = flat("".join(pages))
    for expected in ("新能源汽车动力蓄电池回收服务网点共建共享协议", "OP-AG-2026-000001", "2026-11-25",
                     "深圳宝安集中贮存网点", "广东省深圳市宝安区西乡街道固戍二路18号",
                     "集中贮存型回收服务网点",
                     "服务网点运营方", "深圳绿源回收有限公司", "91440300MA5FL3QX2K",
                     "华南新能源汽车股份有限公司", "91440300MA5G7TPD8R", "共建", "2026-12-01", "2027-12-01",
                     "¥12,000.00", "¥300.00", "合计已分配120吨/年，网点提供500吨/年（24.0%）",
                     "张伟", "李娜", "2026-11-26T10:15:00+08:00", "203.0.113.7", "198.51.100.23"):
        assert expected in text, expected
    # the responsibilities, numbered, in Chinese, each with the party it binds and its source
    for number, item in enumerate(agreement_document.responsibilities_for(), start=1):
        assert flat(f"{number}.{item['zh']}") in text, item["code"]
        assert flat(item["source"]) in text, item["code"]
    assert "责任方：服务网点运营方" in text and "责任方：各方" in text
    assert "Store retired traction batteries" not in text
    assert "待签署" not in text and "尚未生效" not in text


def test_an_english_agreement_keeps_the_chinese_legal_names():
    _, pages = read(render(lang="en"))
    text = flat("".join(pages))
    for expected in ("Co-buildingandSharingAgreementforanNEVTractionBatteryRecyclingServiceOutlet",
                     "Centralized-storagerecyclingserviceoutlet", "Outletoperator", "Co-built",
                     "深圳绿源回收有限公司", "华南新能源汽车股份有限公司", "深圳宝安集中贮存网点",
                     "CNY12,000.00", "CNY300.00", "Totalallocated:120t/yearof500t/yearoffered(24.0%)",
                     "张伟", "李娜"):
        assert expected in text, expected
    for item in agreement_document.responsibilities_for():
        assert flat(item["en"]) in text, item["code"]
        assert flat(item["zh"]) not in text
    assert "新能源汽车动力蓄电池回收服务网点共建共享协议" not in text


def test_the_cjk_font_is_embedded_in_both_languages():
    for lang in ("zh", "en"):
        reader, _ = read(render(lang=lang))
        fonts = {str(font.get_object()["/BaseFont"])
                 for page in reader.pages for font in page["/Resources"]["/Font"].values()}
        assert any("WenQuanYiMicroHei" in name for name in fonts), (lang, fonts)


def test_characters_outside_the_embedded_subset_still_render():
    odd = {**MAKER, "legal_name": "堃喆犇新能源汽车有限公司"}
    reader, pages = read(render(document([allocation(odd)]), signatures=[]))
    assert "新能源汽车有限公司" in flat("".join(pages))
    fonts = {str(font.get_object()["/BaseFont"])
             for page in reader.pages for font in page["/Resources"]["/Font"].values()}
    assert any(certificate_pdf.FALLBACK_FONT in name for name in fonts), fonts


def test_every_page_carries_the_document_hash_and_its_number_of_pages():
    many = [allocation({"id": 100 + i, "legal_name": f"第{i}号新能源汽车制造有限公司",
                        "credit_code": f"9144030000000{i:04d}X"}, tonnes_per_year=5.0)
            for i in range(60)]
    doc = document(many)
    sha = agreement_document.sha256_of(doc)
    reader, pages = read(render(doc, sha=sha, signatures=[]))
    assert len(reader.pages) > 1
    for number, page in enumerate(pages, start=1):
        assert sha in page
        assert f"第 {number} 页，共 {len(pages)} 页" in page
    text = flat("".join(pages))
    # nothing is cut off: the last allocation and the last party's signature line are there
    assert "第59号新能源汽车制造有限公司" in text and "合计已分配300吨/年" in text
    assert text.count("待签署") >= 61
    _, english = read(render(doc, sha=sha, signatures=[], lang="en"))
    assert all(f"Page {n} of {len(english)}" in page for n, page in enumerate(english, start=1))


def test_parties_yet_to_sign_are_listed_as_awaiting_signature():
    _, pages = read(render(status="pending", signatures=[PROVIDER_SIGNATURE]))
    text = flat("".join(pages))
    signatures_section = text[text.index("五、签署记录"):]
    assert "张伟" in signatures_section and "李娜" not in signatures_section
    maker_row = signatures_section[signatures_section.index(MAKER["legal_name"]):]
    assert maker_row.startswith(MAKER["legal_name"] + MAKER["credit_code"] + "待签署")
    _, english = read(render(status="pending", signatures=[PROVIDER_SIGNATURE], lang="en"))
    assert "Awaitingsignature" in flat("".join(english))


def test_a_signature_made_over_another_text_is_flagged():
    other = {**MAKER_SIGNATURE, "document_sha256": "0" * 64}
    _, pages = read(render(signatures=[PROVIDER_SIGNATURE, other]))
    text = flat("".join(pages))
    assert "0" * 64 in text and text.count("与本文件不符") == 1
    assert "与本文件不符" not in flat("".join(read(render())[1]))


@pytest.mark.parametrize(("status", "zh", "en"), [
    ("pending", "待签署—尚未生效", "PENDINGSIGNATURES—notinforce"),
    ("superseded", "已被新版本取代", "SUPERSEDEDbyalaterversion"),
    ("replaced", "未生效", "REPLACED"),
    ("lapsed", "未按期签署，已失效", "LAPSED:notsignedintime"),
])
def test_a_version_not_in_force_says_so_on_every_page(status, zh, en):
    pdf = render(status=status)
    assert pdf != render()
    _, pages = read(pdf)
    assert all(zh in flat(page) for page in pages)
    _, english = read(render(status=status, lang="en"))
    assert all(en in flat(page) for page in english)


def test_money_is_yuan_with_two_decimals_and_thousands_separators():
    assert agreement_pdf.format_yuan(1_200_000) == "¥12,000.00"
    assert agreement_pdf.format_yuan(123_456_789, "en") == "CNY 1,234,567.89"
    assert agreement_pdf.format_yuan(5) == "¥0.05"
    assert agreement_pdf.format_tonnes(120.0) == "120" and agreement_pdf.format_tonnes(12.25) == "12.25"


def test_the_same_input_gives_the_same_bytes():
    assert render() == render()
    assert render(lang="en", status="pending") == render(lang="en", status="pending")
    assert render() != render(lang="en")


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="language"):
        render(lang="fr")
