"""Reading import files: header aliases, encodings, title lines, XLSX cells, stable row keys."""

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from app.models import Establishment, OutletType
from services import outlet_import as oi

ZH_HEADERS = [c.header_zh for c in oi.COLUMNS]


def xlsx(rows: list[list]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@pytest.mark.parametrize(("header", "field"), [
    ("企业名称", "enterprise"), ("Enterprise name", "enterprise"), ("company", "enterprise"),
    ("区/县", "district"), ("区县", "district"), ("District", "district"),
    ("详细地址", "address"), ("Detailed address", "address"),
    ("贮存面积（平方米）", "storage_area_m2"), ("贮存面积(㎡)", "storage_area_m2"),
    ("Storage area (m2)", "storage_area_m2"), ("storage_area_m2", "storage_area_m2"),
    ("最大贮存量(吨)", "max_stored_weight_t"), ("联系电话", "contact_phone"), ("Phone", "contact_phone"),
    ("网点类型*", "type"), (" 建设方式 ", "establishment"),
])
def test_chinese_headers_and_english_aliases_name_the_same_column(header, field):
    assert oi.HEADER_INDEX[oi.normalize_header(header)] == field


def test_every_alias_belongs_to_one_column_only():
    seen = {}
    for column in oi.COLUMNS:
        for name in (column.header_zh, column.header_en, column.field, *column.aliases):
            key = oi.normalize_header(name)
            assert seen.setdefault(key, column.field) == column.field, name


@pytest.mark.parametrize(("text", "expected"), [
    ("收集型", OutletType.COLLECTION), ("collection", OutletType.COLLECTION),
    ("集中贮存型", OutletType.CENTRALIZED_STORAGE), ("centralized_storage", OutletType.CENTRALIZED_STORAGE),
    ("Centralized storage", OutletType.CENTRALIZED_STORAGE), ("仓库", None),
])
def test_outlet_types_in_chinese_or_english(text, expected):
    assert oi._choice(oi.TYPE_VALUES, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("自建", Establishment.SELF_BUILT), ("self-built", Establishment.SELF_BUILT),
    ("共建", Establishment.CO_BUILT), ("co_built", Establishment.CO_BUILT),
    ("授权", Establishment.AUTHORIZED), ("Authorized", Establishment.AUTHORIZED), ("租赁", None),
])
def test_establishment_in_chinese_or_english(text, expected):
    assert oi._choice(oi.ESTABLISHMENT_VALUES, text) == expected


def test_csv_with_bom_and_a_title_line_keeps_spreadsheet_line_numbers():
    content = ("\ufeff新能源汽车动力蓄电池回收服务网点信息表\n"
               + ",".join(["序号", *ZH_HEADERS]) + "\n"
               + "1,某企业,广东省,深圳市\n\n2,另一企业,湖南省,长沙市\n").encode("utf-8")
    table = oi.read_table(content, "list.csv")
    assert table.header_line == 2
    assert [line for line, _cells in table.rows] == [3, 5]  # the blank line 4 is skipped
    mapping, ignored, errors = oi.map_columns(table)
    assert ignored == ["序号"] and not errors
    assert table.rows[1][1][mapping["enterprise"]] == "另一企业"


def test_gb18030_and_tab_separated_files_are_read():
    text = "\t".join(ZH_HEADERS) + "\n" + "\t".join(["企业", "广东省"] + [""] * (len(ZH_HEADERS) - 2))
    table = oi.read_table(text.encode("gb18030"), "list.txt")
    assert table.headers == ZH_HEADERS
    assert table.rows[0][1][:2] == ["企业", "广东省"]


def test_xlsx_cells_become_text_without_spurious_decimals():
    content = xlsx([["Enterprise name", "Province", "City", "Detailed address", "Phone",
                     "Storage area (m2)"],
                    ["某企业", "广东省", "深圳市", "科技路1号", 13800000000, 20.5],
                    [None, None, None, None, None, None],
                    ["某企业", "广东省", "深圳市", "科技路2号", "0755-1", 30.0]])
    table = oi.read_table(content, "list.xlsx")
    assert table.header_line == 1
    assert [(line, cells[4], cells[5]) for line, cells in table.rows] == [
        (2, "13800000000", "20.5"), (4, "0755-1", "30")]


def test_missing_and_repeated_columns_are_reported_against_the_header_line():
    table = oi.read_table(("说明\n企业名称,省,市,详细地址,Enterprise,网点类型\n").encode(), "x.csv")
    _mapping, _ignored, errors = oi.map_columns(table)
    problems = {(e.line, e.column) for e in errors}
    assert (2, "Enterprise") in problems  # twice
    for missing in ("贮存面积（平方米）", "最大贮存量（吨）", "年处理能力（吨）", "建设方式"):
        assert (2, missing) in problems
    assert (2, "区/县") not in problems  # optional


def test_a_file_without_a_recognizable_header_is_refused():
    with pytest.raises(oi.ImportRejected) as caught:
        oi.read_table(b"a,b,c\n1,2,3\n", "x.csv")
    assert caught.value.rows[0].line == 1
    with pytest.raises(oi.ImportRejected):
        oi.read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old excel", "x.xls")


def test_row_keys_ignore_spacing_and_width_but_not_content():
    row = {"enterprise": "绿源电池", "province": "湖南省", "city": "长沙市", "district": "宁乡市",
           "address": "金洲大道88号", "name": ""}
    same = {**row, "address": " 金洲大道８８号 ", "enterprise": "绿源 电池"}
    assert oi.row_key(row) == oi.row_key(same)
    assert oi.row_key(row) != oi.row_key({**row, "address": "金洲大道89号"})
    assert oi.row_key(row) != oi.row_key({**row, "name": "绿源宁乡网点"})
    assert len(oi.row_key(row)) == 64


@pytest.mark.parametrize(("text", "expected"), [
    ("1,200", "1200"), ("20㎡", "20"), ("30 吨", "30"), ("5t", "5"), ("", None), ("abc", "abc")])
def test_numbers_lose_separators_and_units(text, expected):
    assert oi._number(text) == expected


def test_csv_template_is_the_header_row_with_a_bom():
    content = oi.template_csv()
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows == [ZH_HEADERS]
    table = oi.read_table(content, "template.csv")
    mapping, ignored, errors = oi.map_columns(table)
    assert not errors and not ignored and set(mapping) == {c.field for c in oi.COLUMNS}


def test_xlsx_template_has_the_headers_and_a_guide_sheet():
    workbook = load_workbook(io.BytesIO(oi.template_xlsx()))
    first, guide = workbook.worksheets
    assert [c.value for c in first[1]] == ZH_HEADERS
    assert [row[0] for row in guide.iter_rows(min_row=2, values_only=True)] == ZH_HEADERS
    assert first.data_validations.dataValidation  # drop-downs for type and establishment


def test_full_addresses_are_led_by_province_city_and_district_once():
    from services.divisions import DivisionIndex

    index = DivisionIndex.from_csv()
    province, city, district = index.get("440000"), index.get("440300"), index.get("440305")
    assert oi._full_address(province, city, district, "南山区", "科技园1号") == "广东省深圳市南山区科技园1号"
    assert oi._full_address(province, city, district, "南山区", "广东省深圳市南山区科技园1号") == \
        "广东省深圳市南山区科技园1号"
    assert oi._full_address(province, city, district, "南山区", "深圳市南山区科技园1号") == \
        "广东省深圳市南山区科技园1号"
    beijing = index.get("110000")
    assert oi._full_address(beijing, index.get("110100"), index.get("110105"), "朝阳区", "建国路1号") == \
        "北京市朝阳区建国路1号"
