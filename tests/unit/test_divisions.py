"""The division list shipped in services/data and the pure address resolver over it."""

from __future__ import annotations

from collections import Counter

import pytest

from services.divisions import DivisionIndex, read_csv


@pytest.fixture(scope="module")
def rows():
    return read_csv()


@pytest.fixture(scope="module")
def index(rows):
    return DivisionIndex(rows)


def chain(resolution):
    if resolution is None:
        return None
    return tuple(ref.code if ref else None
                 for ref in (resolution.province, resolution.prefecture, resolution.district))


def test_level_counts(rows):
    levels = Counter(r["level"] for r in rows)
    assert levels["province"] == 31
    # 333 prefectures + 4 municipalities + 27 province-administered county-level units
    assert levels["prefecture"] == 364
    assert levels["district"] > 2800


def test_no_taiwan_hong_kong_macau_or_pseudo_rows(rows):
    assert not [r for r in rows if r["code"][:2] in {"71", "81", "82"}]
    names = {r["name"] for r in rows}
    assert not names & {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


def test_guangdong_has_21_prefecture_level_cities(rows):
    cities = [r for r in rows if r["level"] == "prefecture" and r["province_code"] == "440000"]
    assert len(cities) == 21
    assert {"440300", "441900", "442000"} <= {r["code"] for r in cities}


def test_every_row_has_coordinates_and_a_known_parent(rows):
    codes = {r["code"] for r in rows}
    for r in rows:
        assert r["lat"] is not None and r["lon"] is not None, r["code"]
        assert 3 < r["lat"] < 54 and 73 < r["lon"] < 136, r["code"]
        if r["level"] == "province":
            assert r["parent_code"] is None
        else:
            assert r["parent_code"] in codes, r["code"]


def test_municipalities_are_provinces_and_prefectures(rows, index):
    by_code = {r["code"]: r for r in rows}
    for province in ("110000", "120000", "310000", "500000"):
        prefecture = by_code[province[:2] + "0100"]
        assert prefecture["level"] == "prefecture"
        assert prefecture["name"] == by_code[province]["name"]
        assert prefecture["parent_code"] == province
    # Chongqing's counties (5002xx) hang under the municipality's prefecture row too.
    assert by_code["500230"]["parent_code"] == "500100"
    assert by_code["500230"]["prefecture_code"] == "500100"


def test_province_administered_county_units_are_prefecture_level(rows):
    by_code = {r["code"]: r for r in rows}
    for code in ("419001", "429004", "469002", "659001"):
        assert by_code[code]["level"] == "prefecture"
        assert by_code[code]["parent_code"] == code[:2] + "0000"


@pytest.mark.parametrize(("name", "short"), [
    ("440000", "广东"), ("450000", "广西"), ("150000", "内蒙古"), ("650000", "新疆"),
    ("640000", "宁夏"), ("540000", "西藏"), ("222400", "延边"), ("440300", "深圳"),
    ("152900", "阿拉善"), ("652900", "阿克苏"), ("440305", "南山"), ("450328", "龙胜"),
    ("622926", "东乡"), ("140522", "阳城"), ("140302", "城区"), ("130424", "成安"),
])
def test_short_names(rows, name, short):
    assert {r["code"]: r["short_name"] for r in rows}[name] == short


@pytest.mark.parametrize(("text", "expected"), [
    ("广东省深圳市南山区科技园", ("440000", "440300", "440305")),
    ("深圳市南山区粤海街道科技中一路", ("440000", "440300", "440305")),
    ("深圳南山科技园", ("440000", "440300", "440305")),
    ("深圳", ("440000", "440300", None)),
    ("深圳市", ("440000", "440300", None)),
    ("广东", ("440000", None, None)),
    ("广东省", ("440000", None, None)),
    ("440300", ("440000", "440300", None)),
    ("４４０３０５", ("440000", "440300", "440305")),
    ("北京市", ("110000", "110100", None)),
    ("北京", ("110000", "110100", None)),
    ("北京市朝阳区建国路88号", ("110000", "110100", "110105")),
    ("上海市浦东新区张江高科技园区", ("310000", "310100", "310115")),
    ("天津滨海新区", ("120000", "120100", "120116")),
    ("重庆市万州区", ("500000", "500100", "500101")),
    ("重庆市石柱土家族自治县", ("500000", "500100", "500240")),
    ("江苏省南京市玄武区中山路", ("320000", "320100", "320102")),
    ("广州市中山大道西", ("440000", "440100", None)),
    ("广东省中山市", ("440000", "442000", None)),
    ("吉林省吉林市", ("220000", "220200", None)),
    ("吉林市船营区", ("220000", "220200", "220204")),
    ("吉林省", ("220000", None, None)),
    ("辽宁省本溪市", ("210000", "210500", None)),
    ("海南", ("460000", None, None)),
    ("新疆维吾尔自治区乌鲁木齐市天山区", ("650000", "650100", "650102")),
    ("内蒙古呼和浩特市", ("150000", "150100", None)),
    ("广西壮族自治区南宁市青秀区", ("450000", "450100", "450103")),
    ("西藏拉萨市城关区", ("540000", "540100", "540102")),
    ("宁夏银川市", ("640000", "640100", None)),
    ("延边朝鲜族自治州延吉市", ("220000", "222400", "222401")),
    ("湖北省仙桃市", ("420000", "429004", None)),
    ("河南省济源市", ("410000", "419001", None)),
    ("福建省鼓楼区", ("350000", "350100", "350102")),
    ("浙江省杭州市西湖区文三路", ("330000", "330100", "330106")),
    ("东莞市长安镇", ("440000", "441900", None)),
    ("山东省济南市莱芜区", ("370000", "370100", "370116")),
    ("  广东省 深圳市\t福田区  ", ("440000", "440300", "440304")),
])
def test_resolves_addresses_and_names(index, text, expected):
    assert chain(index.resolve(text)) == expected


@pytest.mark.parametrize("text", [
    "南山区粤海街道",  # Shenzhen and Hegang both have a 南山区
    "朝阳区",  # Beijing and Changchun
    "鼓楼区",
    "科技园一路",
    "",
    None,
    "123",
    "999999",
])
def test_ambiguous_or_unknown_gives_none(index, text):
    assert index.resolve(text) is None


def test_ambiguous_district_keeps_what_candidates_share(index):
    # Nanjing and Xuzhou both have a 鼓楼区: only the province is certain.
    assert chain(index.resolve("江苏省鼓楼区")) == ("320000", None, None)


def test_best_is_the_most_specific_division(index):
    assert index.resolve("深圳市南山区").best.code == "440305"
    assert index.resolve("广东").best.code == "440000"


def test_every_division_resolves_from_its_full_written_chain(index, rows):
    by_code = {r["code"]: r for r in rows}
    for r in rows:
        if r["level"] == "province":
            continue
        text = by_code[r["province_code"]]["name"] + by_code[r["prefecture_code"]]["name"]
        if r["level"] == "district":
            text += r["name"]
        resolution = index.resolve(text)
        assert resolution is not None and resolution.best.code == r["code"], text


def test_every_prefecture_resolves_from_its_name_alone(index, rows):
    municipal = {"110100", "120100", "310100", "500100"}  # named like their province
    for r in rows:
        if r["level"] == "prefecture" and r["code"] not in municipal:
            assert index.resolve(r["name"]).best.code == r["code"], r["name"]
