"""The pool search's pure parts: distances, the bounding box, parameters, ordering, file rendering."""

from __future__ import annotations

import io
import math
import random

import pytest

from services import pool_search, registry_export
from services.divisions import DivisionIndex
from services.errors import ValidationFailed
from services.pool_search import bounding_box, haversine_km, order_candidates, parse_near


@pytest.fixture(scope="module")
def index():
    return DivisionIndex.from_csv()


def parse(index, **params):
    return pool_search.parse(params, index=index)


def fields_of(index, **params) -> set[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse(index, **params)
    return set(caught.value.fields)


# --- geometry -----------------------------------------------------------------------------

def test_haversine_known_distances():
    one_degree = math.pi * 6371.0088 / 180
    assert haversine_km(0, 0, 0, 1) == pytest.approx(one_degree, rel=1e-12)
    assert haversine_km(30, 120, 31, 120) == pytest.approx(one_degree, rel=1e-12)
    assert haversine_km(22.5, 114.0, 22.5, 114.0) == 0
    # Beijing (Tiananmen) to Shanghai (People's Square): about 1,068 km on the sphere
    assert haversine_km(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1067.3, abs=1.5)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * 6371.0088)


@pytest.mark.parametrize("lat, lon, radius", [(22.5, 114.0, 50), (53.0, 122.0, 500), (18.2, 109.5, 5),
                                               (40.0, 116.0, 0.5), (-33.9, 151.2, 300)])
def test_the_bounding_box_encloses_the_whole_circle(lat, lon, radius):
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius)
    rng = random.Random(1)
    for _ in range(2000):
        bearing, d = rng.uniform(0, 2 * math.pi), radius * math.sqrt(rng.random())
        # destination point on the sphere (the standard direct formula)
        p1, l1, delta = math.radians(lat), math.radians(lon), d / 6371.0088
        p2 = math.asin(math.sin(p1) * math.cos(delta) + math.cos(p1) * math.sin(delta) * math.cos(bearing))
        l2 = l1 + math.atan2(math.sin(bearing) * math.sin(delta) * math.cos(p1),
                             math.cos(delta) - math.sin(p1) * math.sin(p2))
        point = (math.degrees(p2), math.degrees(l2))
        assert haversine_km(lat, lon, *point) <= radius + 1e-9
        assert min_lat <= point[0] <= max_lat and min_lon <= point[1] <= max_lon
    # and is not wildly larger than the circle: the latitude span is exact
    assert (max_lat - min_lat) * pool_search.KM_PER_DEGREE == pytest.approx(2 * radius)


def test_the_bounding_box_near_a_pole_spans_every_longitude():
    assert bounding_box(89.9, 0, 50)[2:] == (-180.0, 180.0)


@pytest.mark.parametrize("text, expected", [
    ("22.54,114.06", (22.54, 114.06)), (" 22.54 , 114.06 ", (22.54, 114.06)),
    ("22.54，114.06", (22.54, 114.06)), ("-33.9,151", (-33.9, 151.0)), ("+1,2", (1.0, 2.0)),
    ("22.54", None), ("a,b", None), ("22.54;114.06", None), ("91,0", None), ("0,181", None),
    ("1e3,2", None), ("nan,1", None), ("", None), ("1,2,3", None),
])
def test_parse_near(text, expected):
    assert parse_near(text) == expected


# --- ordering -----------------------------------------------------------------------------

def test_candidates_order_like_sql_missing_last_ties_by_id():
    rows = [(5, 1.0, 30), (2, 2.0, None), (3, 3.0, 10), (1, 4.0, 30), (4, 0.5, None)]
    assert [r[0] for r in order_candidates(rows, "distance")] == [4, 5, 2, 3, 1]
    assert [r[0] for r in order_candidates(rows, "annual_fee_fen")] == [3, 1, 5, 2, 4]
    assert [r[0] for r in order_candidates(rows, "-annual_fee_fen")] == [1, 5, 3, 2, 4]


def test_distance_ties_break_by_id():
    rows = [(9, 1.0, None), (3, 1.0, None), (7, 0.2, None)]
    assert [r[0] for r in order_candidates(rows, "distance")] == [7, 3, 9]


# --- parameters ---------------------------------------------------------------------------

def test_defaults(index):
    criteria = parse(index)
    assert criteria == pool_search.Criteria()
    assert (criteria.sort, criteria.page, criteria.per_page) == ("name", 1, 20)
    near = parse(index, near="22.5,114")
    assert (near.sort, near.radius_km) == ("distance", pool_search.DEFAULT_RADIUS_KM)


@pytest.mark.parametrize("params, codes", [
    ({"province": "440000"}, ("440000", None, None)),
    ({"province": "广东"}, ("440000", None, None)),
    ({"province": "重庆市"}, ("500000", None, None)),
    ({"city": "重庆"}, (None, "500100", None)),
    ({"city": "500000"}, (None, "500100", None)),
    ({"province": "辽宁", "city": "朝阳"}, ("210000", "211300", None)),
    ({"province": "北京", "district": "朝阳"}, ("110000", None, "110105")),
    ({"province": "吉林", "city": "长春市", "district": "朝阳区"}, ("220000", "220100", "220104")),
    ({"city": "深圳", "district": "南山"}, (None, "440300", "440305")),
    ({"district": "440305"}, (None, None, "440305")),
])
def test_divisions_by_code_or_name(index, params, codes):
    criteria = parse(index, **params)
    assert (criteria.province_code, criteria.city_code, criteria.district_code) == codes


@pytest.mark.parametrize("params, field", [
    ({"province": "Atlantis"}, "province"),
    ({"province": "440300"}, "province"),
    ({"province": "4400"}, "province"),
    ({"city": "广东省"}, "city"),
    ({"city": "南山区"}, "city"),
    ({"province": "广东", "city": "杭州"}, "city"),
    ({"district": "南山区"}, "district"),  # Shenzhen's and Hegang's
    ({"city": "440300", "district": "110105"}, "district"),
    ({"type": "depot"}, "type"),
    ({"certified": "perhaps"}, "certified"),
    ({"min_capacity_t": "x"}, "min_capacity_t"),
    ({"min_capacity_t": "inf"}, "min_capacity_t"),
    ({"max_annual_fee_fen": "1.5"}, "max_annual_fee_fen"),
    ({"max_annual_fee_fen": "-1"}, "max_annual_fee_fen"),
    ({"near": "north"}, "near"),
    ({"radius_km": "10"}, "radius_km"),
    ({"near": "1,2", "radius_km": "1000"}, "radius_km"),
    ({"sort": "popularity"}, "sort"),
    ({"sort": "distance"}, "sort"),
    ({"page": "0"}, "page"),
    ({"per_page": "101"}, "per_page"),
    ({"q": "字" * 101}, "q"),
])
def test_bad_parameters_are_named(index, params, field):
    assert field in fields_of(index, **params)


def test_every_bad_parameter_is_reported_at_once(index):
    assert fields_of(index, province="nowhere", near="x", sort="y", per_page="500") == {
        "province", "near", "sort", "per_page"}


def test_typed_values_from_the_api_schema_are_accepted(index):
    criteria = parse(index, certified=True, min_capacity_t=12.5, max_annual_fee_fen=1000, page=3,
                     per_page=100, q="  Foo  BAR foo ")
    assert criteria.certified and criteria.min_capacity_t == 12.5 and criteria.max_annual_fee_fen == 1000
    assert (criteria.page, criteria.per_page) == (3, 100)
    assert criteria.terms == ("foo", "bar")


def test_as_params_round_trips_with_codes(index):
    criteria = parse(index, province="广东", city="深圳", type="collection", certified="on",
                     min_capacity_t="100", max_annual_fee_fen="50000", q="绿源", near="22.5,114",
                     radius_km="20", sort="-annual_fee_fen")
    params = criteria.as_params()
    assert params == {"province": "440000", "city": "440300", "type": "collection", "certified": "true",
                      "min_capacity_t": "100", "max_annual_fee_fen": "50000", "q": "绿源",
                      "near": "22.5,114", "radius_km": "20", "sort": "-annual_fee_fen"}
    assert parse(index, **params) == criteria


# --- files ----------------------------------------------------------------------------------

ROW = {"id": 7, "name": "=cmd|' /C calc'!A0", "type": "collection", "provider_name": "绿源",
       "province_name": "广东省", "city_name": "深圳市", "district_name": None, "district": None,
       "city": "440300", "address": "@SUM(1)", "certified": False, "available_capacity_t": 120.0,
       "annual_fee_fen": 1_234_567, "handling_fee_fen_per_t": 5, "lat": 22.5, "lon": 114.0}


def test_yuan_is_exact():
    from services import money

    assert str(money.yuan(1_234_567)) == "12345.67"
    assert str(money.yuan(5)) == "0.05"
    assert money.yuan(None) is None


def test_csv_has_a_bom_and_defuses_formulas():
    data = registry_export.render("csv", [ROW], with_distance=False)
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("ID,Outlet,Type,Provider")
    assert lines[1].startswith(
        "7,'=cmd|' /C calc'!A0,Collection outlet,绿源,广东省,深圳市,,440300,'@SUM(1),no,")
    assert lines[1].endswith(",120.0,12345.67,0.05,22.5,114.0")


def test_xlsx_keeps_numbers_as_numbers_and_text_as_text():
    from openpyxl import load_workbook

    data = registry_export.render("xlsx", [ROW, {**ROW, "id": 8, "distance_km": 1.5}], with_distance=True,
                                  about=[("Matches", "2")])
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    assert sheet["A1"].value == "ID" and sheet["A2"].value == 7
    assert sheet["B2"].data_type == "s" and sheet["B2"].value.startswith("'=")
    assert sheet["L2"].value == pytest.approx(12345.67)
    assert sheet["P3"].value == 1.5 and sheet.freeze_panes == "A2"
    assert workbook.worksheets[1]["B1"].value == "2"
