"""The public pool search, map points, detail pages and registry export, on a hand-made pool.

Outlets are inserted directly with their search columns set, so every expectation below is
computed from the data set here (distances with a formula of our own, not the service's).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Assessment, CapacityOffer, DataVersion, Outlet
from services import pool_search
from tests.integration.conftest import login

EN = {"Accept-Language": "en"}
R_KM = 6371.0088
KM_PER_DEG = math.pi * R_KM / 180
FUTIAN = (22.5431, 114.0579)  # the search point most tests use

# name, province, city, district, lat, lon, type, capacity t, annual fee fen, handling fee fen/t,
# certified, status. Names start with distinct capitals so every collation orders them alike.
ROWS = [
    ("Alpha 南山网点", "440000", "440300", "440305", 22.5329, 113.9305,
     "collection", 500.0, 1_200_000, 10_000, False, "listed"),
    ("Bravo 福田贮存中心", "440000", "440300", "440304", 22.5410, 114.0500,
     "centralized_storage", 3000.0, 3_000_000, 20_000, False, "listed"),
    ("Charlie 天河网点", "440000", "440100", "440106", 23.1250, 113.3610,
     "collection", None, None, None, False, "listed"),
    ("Delta 东莞网点", "440000", "441900", None, 23.0207, 113.7518,
     "collection", 200.0, 500_000, 5_000, False, "listed"),
    ("Echo 朝阳贮存中心", "110000", "110100", "110105", 39.9215, 116.4432,
     "centralized_storage", 1000.0, 0, 8_000, True, "listed"),
    ("Foxtrot 长春朝阳网点", "220000", "220100", "220104", 43.8338, 125.2883,
     "collection", 500.0, 800_000, 5_000, False, "listed"),
    ("Golf 宝安网点", "440000", "440300", "440306", 22.5550, 113.8830,
     "collection", 500.0, 1_200_000, 12_000, False, "listed"),
    ("Hotel 南山草稿", "440000", "440300", "440305", 22.5400, 113.9400,
     "collection", 9000.0, 0, 0, True, "draft"),
    ("India 南山暂停", "440000", "440300", "440305", 22.5401, 113.9401,
     "collection", 9000.0, 0, 0, True, "suspended"),
    ("Juliet 南山下架", "440000", "440300", "440305", 22.5402, 113.9402,
     "collection", 9000.0, 0, 0, True, "delisted"),
]
LISTED = [r for r in ROWS if r[-1] == "listed"]
ALL_LISTED = sorted(r[0] for r in LISTED)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Chord length between unit vectors, turned into an arc: independent of the service's haversine."""
    def vector(lat, lon):
        la, lo = math.radians(lat), math.radians(lon)
        return (math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la))

    chord = math.dist(vector(*a), vector(*b))
    return 2 * R_KM * math.asin(chord / 2)


@pytest.fixture
def provider(make_party):
    return make_party("provider", legal_name="绿源电池综合利用有限公司")


@pytest.fixture
def pool(app, provider, make_party):
    """The data set above; returns {name: id}. Echo belongs to a second provider."""
    other = make_party("provider", legal_name="北方储能科技有限公司")
    ids = {}
    listed_at = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        for n, row in enumerate(ROWS):
            name, prov, city, district, lat, lon, kind, cap, fee, handling, certified, status = row
            owner = other if name.startswith("Echo") else provider
            provider_name = "北方储能科技有限公司" if owner is other else "绿源电池综合利用有限公司"
            address = f"{city}某某路{n + 1}号 Industrial Park"
            outlet = Outlet(
                provider_id=owner.organization_id, name=name, address=address,
                province_code=prov, city_code=city, district_code=district, lat=lat, lon=lon,
                type=kind, storage_area_m2=40, max_stored_weight_t=5, annual_capacity_t=3000,
                chemistries=["LFP"], safety_classes=["A"], establishment="self_built",
                status=status, compliant=True, certified=certified, available_capacity_t=cap,
                annual_fee_fen=fee, handling_fee_fen_per_t=handling,
                listed_at=listed_at + timedelta(days=n) if status == "listed" else None,
                search_text=" ".join([name, address, provider_name]).lower())
            db.session.add(outlet)
            db.session.flush()
            ids[name] = outlet.id
        db.session.commit()
    return ids


def names(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["name"] for item in response.json["items"]]


def search(client, **params):
    return client.get("/api/v1/outlets", query_string=params, headers=EN)


# --- listing and filters ------------------------------------------------------------------

def test_anonymous_search_lists_only_listed_outlets(client, pool):
    response = search(client, per_page=100)
    assert response.status_code == 200
    body = response.json
    assert body["total"] == len(LISTED) and body["page"] == 1 and body["per_page"] == 100
    assert names(response) == ALL_LISTED  # default order: name, then id
    alpha = next(i for i in body["items"] if i["name"].startswith("Alpha"))
    assert alpha == {**alpha, "id": pool["Alpha 南山网点"], "province": "440000", "city": "440300",
                     "district": "440305", "type": "collection", "certified": False,
                     "available_capacity_t": 500.0, "annual_fee_fen": 1_200_000,
                     "handling_fee_fen_per_t": 10_000, "lat": 22.5329, "lon": 113.9305,
                     "province_name": "广东省", "city_name": "深圳市", "district_name": "南山区",
                     "provider_name": "绿源电池综合利用有限公司"}
    assert "distance_km" not in alpha
    for hidden in ("Hotel", "India", "Juliet"):
        assert not any(n.startswith(hidden) for n in names(response))


@pytest.mark.parametrize("params, expected", [
    ({"province": "440000"}, ["Alpha", "Bravo", "Charlie", "Delta", "Golf"]),
    ({"province": "广东"}, ["Alpha", "Bravo", "Charlie", "Delta", "Golf"]),
    ({"province": "广东省"}, ["Alpha", "Bravo", "Charlie", "Delta", "Golf"]),
    ({"province": "北京"}, ["Echo"]),
    ({"city": "440300"}, ["Alpha", "Bravo", "Golf"]),
    ({"city": "深圳"}, ["Alpha", "Bravo", "Golf"]),
    ({"city": "北京市"}, ["Echo"]),
    ({"city": "110000"}, ["Echo"]),  # a municipality's province code stands for its city
    ({"province": "广东", "city": "东莞市"}, ["Delta"]),
    ({"district": "440305"}, ["Alpha"]),
    ({"city": "深圳", "district": "南山区"}, ["Alpha"]),  # 南山区 alone is ambiguous (鹤岗 has one)
    ({"province": "北京", "district": "朝阳区"}, ["Echo"]),
    ({"province": "吉林", "city": "长春", "district": "朝阳"}, ["Foxtrot"]),
    ({"type": "centralized_storage"}, ["Bravo", "Echo"]),
    ({"type": "collection", "city": "440300"}, ["Alpha", "Golf"]),
    ({"certified": "true"}, ["Echo"]),
    ({"certified": "false"}, ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf"]),
    ({"min_capacity_t": 500}, ["Alpha", "Bravo", "Echo", "Foxtrot", "Golf"]),  # inclusive
    ({"min_capacity_t": 500.5}, ["Bravo", "Echo"]),
    ({"max_annual_fee_fen": 800_000}, ["Delta", "Echo", "Foxtrot"]),  # inclusive, unpriced out
    ({"max_annual_fee_fen": 0}, ["Echo"]),
    ({"q": "bravo"}, ["Bravo"]),  # case-insensitive
    ({"q": "BRAVO"}, ["Bravo"]),
    ({"q": "朝阳"}, ["Echo", "Foxtrot"]),  # name
    ({"q": "440100某某路"}, ["Charlie"]),  # address
    ({"q": "北方储能"}, ["Echo"]),  # provider's name
    ({"q": "绿源 南山"}, ["Alpha"]),  # every word must match
    ({"q": "100%"}, []),  # LIKE wildcards are literal
    ({"q": "_"}, []),
    ({"province": "广东", "type": "collection", "min_capacity_t": 300, "max_annual_fee_fen": 1_200_000,
      "q": "网点"}, ["Alpha", "Golf"]),
])
def test_each_filter(client, pool, params, expected):
    response = search(client, **params)
    assert [n.split()[0] for n in names(response)] == expected
    assert response.json["total"] == len(expected)


def test_free_text_across_the_pool_is_matched_on_postgresql_bigrams(app, client, pool):
    """On PostgreSQL the text's bigrams are a generated, GIN-indexed column (migration 0015):
    a search without a place filters on them as well as LIKE, an edit shows in them at once,
    and a two-character term finds what LIKE finds."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the bigram column is PostgreSQL's")
    with app.app_context():
        def sql(**params):
            return " ".join(str(s.compile(db.engine)) for s in pool_search.statements_for(params))

        assert "outlets.search_bigrams @>" in sql(q="朝阳")
        assert "search_bigrams" not in sql(q="朝阳", province="440000")  # the province's index serves it
        assert "search_bigrams" not in sql(q="x")  # one character has no pair
        bravo = next(name for name in pool if name.startswith("Bravo"))
        db.session.execute(update(Outlet).where(Outlet.id == pool[bravo])
                           .values(search_text="bravo 新名字网点"))
        db.session.commit()
        grams = db.session.scalar(text("SELECT search_bigrams FROM outlets WHERE id = :id"),
                                  {"id": pool[bravo]})
    assert {"新名", "名字", "字网", "br", "vo", "o "} <= set(grams) and "朝阳" not in grams
    assert names(search(client, q="名字")) == [bravo]


def test_codes_in_results_are_six_digit_codes_even_when_filtering_by_name(client, pool):
    items = search(client, province="广东", city="深圳").json["items"]
    assert {(i["province"], i["city"]) for i in items} == {("440000", "440300")}


# --- distance ---------------------------------------------------------------------------

@pytest.mark.parametrize("radius", [5, 20, 70, 150, 500])
def test_near_orders_by_distance_and_cuts_at_the_radius(client, pool, radius):
    expected = sorted(
        (distance_km(FUTIAN, (r[4], r[5])), r[0]) for r in LISTED
         if distance_km(FUTIAN, (r[4], r[5])) <= radius)
    response = search(client, near=f"{FUTIAN[0]},{FUTIAN[1]}", radius_km=radius, per_page=100)
    assert names(response) == [name for _, name in expected]
    assert response.json["total"] == len(expected)
    for item, (km, _name) in zip(response.json["items"], expected, strict=True):
        assert item["distance_km"] == pytest.approx(km, abs=0.001)
        assert item["distance_km"] <= radius


def test_near_defaults_to_a_50_km_radius(client, pool):
    within = [r[0] for r in LISTED if distance_km(FUTIAN, (r[4], r[5])) <= 50]
    response = search(client, near=f"{FUTIAN[0]},{FUTIAN[1]}")
    assert sorted(names(response)) == sorted(within) and len(within) == 3


def test_radius_boundary_north_and_east(app, client, provider):
    """Points 9.99 km and 10.01 km away due north and due east of the search point."""
    lat0, lon0 = 40.0, 116.0

    def east(km):  # same latitude, great-circle distance km
        return lon0 + math.degrees(2 * math.asin(math.sin(km / (2 * R_KM)) / math.cos(math.radians(lat0))))

    spots = {"N-in": (lat0 + 9.99 / KM_PER_DEG, lon0), "N-out": (lat0 + 10.01 / KM_PER_DEG, lon0),
             "E-in": (lat0, east(9.99)), "E-out": (lat0, east(10.01))}
    with app.app_context():
        for name, (lat, lon) in spots.items():
            db.session.add(Outlet(provider_id=provider.organization_id, name=name, address="北京市",
                                  province_code="110000", city_code="110100", lat=lat, lon=lon,
                                  type="collection", storage_area_m2=1, max_stored_weight_t=1,
                                  annual_capacity_t=1, chemistries=[], safety_classes=[],
                                  establishment="self_built", status="listed", search_text=name.lower()))
        db.session.commit()
    response = search(client, near=f"{lat0},{lon0}", radius_km=10)
    assert sorted(names(response)) == ["E-in", "N-in"]
    for item in response.json["items"]:
        assert item["distance_km"] == pytest.approx(distance_km((lat0, lon0), spots[item["name"]]), abs=1e-3)
        assert item["distance_km"] == pytest.approx(9.99, abs=1e-3)


def test_near_with_another_sort_and_filters(client, pool):
    response = search(client, near=f"{FUTIAN[0]},{FUTIAN[1]}", radius_km=150, sort="-annual_fee_fen",
                      type="collection")
    # Alpha and Golf tie on the fee: the lower id first. Charlie has no fee: last.
    assert [n.split()[0] for n in names(response)] == ["Alpha", "Golf", "Delta", "Charlie"]
    assert all("distance_km" in i for i in response.json["items"])


def test_near_pages_are_consistent(client, pool):
    full = names(search(client, near="23,113.8", radius_km=200, per_page=100))
    paged = []
    for page in (1, 2, 3):
        response = search(client, near="23,113.8", radius_km=200, per_page=2, page=page)
        assert response.json["total"] == len(full)
        paged += names(response)
    assert paged == full and len(full) == 5


# --- sorting and pages ------------------------------------------------------------------

def by(field, *, descending=False):
    present = [r for r in LISTED if r[field] is not None]  # ids follow ROWS' order
    present.sort(key=lambda r: r[field], reverse=descending)
    return [r[0] for r in present] + [r[0] for r in LISTED if r[field] is None]


@pytest.mark.parametrize("sort, expected", [
    ("name", ALL_LISTED),
    ("-name", sorted(ALL_LISTED, reverse=True)),
    ("available_capacity_t", by(7)),
    ("-available_capacity_t", by(7, descending=True)),
    ("annual_fee_fen", by(8)),
    ("-annual_fee_fen", by(8, descending=True)),
    ("handling_fee_fen_per_t", by(9)),
    ("-listed_at", [r[0] for r in reversed(LISTED)]),
])
def test_sort_orders_put_missing_values_last_and_break_ties_by_id(client, pool, sort, expected):
    assert names(search(client, sort=sort, per_page=100)) == expected


def test_sort_ties_follow_ids(client, pool):
    # Alpha, Foxtrot and Golf all offer 500 t: in id order whichever direction.
    for sort in ("available_capacity_t", "-available_capacity_t"):
        tied = [n for n in names(search(client, sort=sort, per_page=100)) if n[0] in "AFG"]
        assert tied == ["Alpha 南山网点", "Foxtrot 长春朝阳网点", "Golf 宝安网点"]


@pytest.mark.parametrize("sort", ["name", "-available_capacity_t", "annual_fee_fen"])
def test_pages_cover_every_match_once_with_a_stable_total(client, pool, sort):
    full = names(search(client, sort=sort, per_page=100))
    seen = []
    for page in range(1, 5):
        response = search(client, sort=sort, per_page=2, page=page)
        assert response.json["total"] == len(LISTED)
        assert response.json["page"] == page and response.json["per_page"] == 2
        seen += names(response)
    assert seen == full
    beyond = search(client, sort=sort, per_page=2, page=9)
    assert beyond.json["items"] == [] and beyond.json["total"] == len(LISTED)


def test_text_search_pages_count_in_the_same_pass(client, pool):
    with_text = [r[0] for r in LISTED if "网点" in r[0]]
    seen = []
    for page in (1, 2, 3):
        response = search(client, q="网点", per_page=2, page=page, sort="-annual_fee_fen")
        assert response.json["total"] == len(with_text) == 5
        seen += names(response)
    assert seen == [n for n in by(8, descending=True) if n in with_text]
    beyond = search(client, q="网点", per_page=2, page=4)
    assert beyond.json["items"] == [] and beyond.json["total"] == 5
    nothing = search(client, q="不存在的网点")
    assert nothing.json == {"items": [], "total": 0, "page": 1, "per_page": 20}


def test_items_carry_exactly_the_documented_fields(client, pool):
    from app.api.pool import PoolOutletSchema

    documented = set(PoolOutletSchema().fields)
    plain = search(client).json["items"][0]
    near = search(client, near="22.5,114").json["items"][0]
    assert set(plain) == documented - {"distance_km"} and set(near) == documented
    assert plain["listed_at"].startswith("2026-01-") and plain["listed_at"].endswith("+00:00")


def test_a_search_is_one_count_and_one_page_query(app, client, pool):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "outlets" in statement:
            statements.append(statement)

    search(client, province="广东")  # warm the division index
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert search(client, province="广东", sort="-available_capacity_t").status_code == 200
        plain = list(statements)
        statements.clear()
        assert search(client, near="23,113.8", radius_km=200, sort="annual_fee_fen").status_code == 200
        near = list(statements)
        statements.clear()
        assert search(client, q="网点", province="广东", page=2, per_page=2).json["items"]
        text = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(plain) == 2 and "count(" in plain[0].lower()
    assert len(near) == 2  # bounding-box candidates, then the page's rows by id
    assert len(text) == 1 and "over ()" in text[0].lower()  # the page carries its total


# --- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("params, field", [
    ({"province": "火星"}, "province"),
    ({"province": "深圳"}, "province"),  # a city, not a province
    ({"province": "99"}, "province"),
    ({"city": "广东"}, "city"),
    ({"city": "北京", "province": "广东"}, "city"),  # not in the province
    ({"district": "朝阳区"}, "district"),  # ambiguous without a province
    ({"district": "440305", "city": "440100"}, "district"),
    ({"type": "warehouse"}, "type"),
    ({"certified": "maybe"}, "certified"),
    ({"min_capacity_t": "lots"}, "min_capacity_t"),
    ({"min_capacity_t": "-1"}, "min_capacity_t"),
    ({"max_annual_fee_fen": "12.5"}, "max_annual_fee_fen"),
    ({"near": "22.5"}, "near"),
    ({"near": "abc,def"}, "near"),
    ({"near": "91,114"}, "near"),
    ({"near": "22.5;114"}, "near"),
    ({"radius_km": "5"}, "radius_km"),
    ({"near": "22.5,114", "radius_km": "0"}, "radius_km"),
    ({"near": "22.5,114", "radius_km": "501"}, "radius_km"),
    ({"near": "22.5,114", "radius_km": "nan"}, "radius_km"),
    ({"sort": "price"}, "sort"),
    ({"sort": "distance"}, "sort"),  # needs near
    ({"per_page": "101"}, "per_page"),
    ({"per_page": "0"}, "per_page"),
    ({"page": "0"}, "page"),
    ({"page": "x"}, "page"),
    ({"q": "x" * 101}, "q"),
])
def test_bad_parameters_answer_422_naming_the_parameter(client, pool, params, field):
    response = search(client, **params)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert response.json["error"]["code"] == "validation_failed"


@pytest.mark.parametrize("path", ["/api/v1/outlets/map?near=x", "/api/v1/outlets/export?radius_km=3",
                                  "/api/v1/outlets/export?format=pdf", "/api/v1/outlets/map?limit=0"])
def test_other_endpoints_refuse_bad_parameters_too(client, pool, path):
    assert client.get(path).status_code == 422


# --- detail -----------------------------------------------------------------------------

def test_detail_api_and_page_show_a_listed_outlet_to_anyone(app, client, pool):
    alpha = pool["Alpha 南山网点"]
    with app.app_context():
        db.session.add(CapacityOffer(outlet_id=alpha, capacity_t_per_year=500, annual_fee_fen=1_200_000,
                                     handling_fee_fen_per_t=10_000, min_term_months=12,
                                     available_from=datetime(2026, 12, 1).date()))
        for version, results in ((1, {"facilities": {"applicable": 9, "passed": 8, "failed": [12]}}),
                                 (2, {"working_environment": {"applicable": 6, "passed": 6, "failed": []},
                                      "facilities": {"applicable": 9, "passed": 9, "failed": []}})):
            db.session.add(Assessment(
                outlet_id=alpha, version=version, checklist_version="2023-survey-table1", answers={},
                passed=version == 2, category_results=results,
                completed_at=datetime(2026, 1, version, tzinfo=UTC)))
        db.session.add(Assessment(outlet_id=alpha, version=3, checklist_version="2023-survey-table1",
                                  answers={}, category_results=None))  # a draft does not count
        db.session.commit()
    body = client.get(f"/api/v1/outlets/{alpha}", headers=EN).json
    assert body["name"] == "Alpha 南山网点" and body["provider_name"] == "绿源电池综合利用有限公司"
    assert body["certified"] is False and body["annual_fee_fen"] == 1_200_000
    assert body["compliance"]["version"] == 2 and body["compliance"]["passed"] is True
    assert [c["code"] for c in body["compliance"]["categories"]] == ["working_environment", "facilities"]
    assert body["offer"]["min_term_months"] == 12

    page = client.get(f"/outlets/{alpha}", headers=EN)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Alpha 南山网点" in html and "绿源电池综合利用有限公司" in html
    assert "12,000.00" in html and "100.00" in html  # fen shown as yuan
    assert "Not certified yet" in html
    assert 'data-lat="22.5329"' in html and "<script>" not in html


def test_failed_items_are_named_in_the_compliance_summary(app, client, pool):
    bravo = pool["Bravo 福田贮存中心"]
    with app.app_context():
        db.session.add(Assessment(
            outlet_id=bravo, version=1, checklist_version="2023-survey-table1", answers={},
            passed=False, completed_at=datetime(2026, 1, 1, tzinfo=UTC),
            category_results={"facilities": {"applicable": 9, "passed": 8, "failed": [12]}}))
        db.session.commit()
    failed = client.get(f"/api/v1/outlets/{bravo}").json["compliance"]["categories"][0]["failed"]
    assert failed[0]["number"] == 12 and failed[0]["title_en"]
    assert failed[0]["title_en"] in client.get(f"/outlets/{bravo}", headers=EN).get_data(as_text=True)


@pytest.mark.parametrize("name", ["Hotel 南山草稿", "India 南山暂停", "Juliet 南山下架"])
def test_unlisted_outlets_have_no_public_detail(client, pool, name):
    assert client.get(f"/api/v1/outlets/{pool[name]}").status_code == 404
    assert client.get(f"/outlets/{pool[name]}").status_code == 404


def test_an_outlet_listed_through_the_real_flow_is_found(client, provider):
    from tests.integration.test_outlets import listed_outlet

    outlet = listed_outlet(client, provider)
    client.put(f"/api/v1/outlets/{outlet['id']}/offer", headers=provider.headers, json={
        "capacity_t_per_year": 120, "annual_fee_fen": 3_600_000, "handling_fee_fen_per_t": 15_000,
        "min_term_months": 12, "available_from": "2026-12-01"})
    found = search(client, city="深圳", q="绿源", min_capacity_t=100).json["items"]
    assert [i["id"] for i in found] == [outlet["id"]]
    assert found[0]["annual_fee_fen"] == 3_600_000 and found[0]["district"] == "440305"
    summary = client.get(f"/api/v1/outlets/{outlet['id']}").json["compliance"]
    assert summary["passed"] and sum(c["applicable"] for c in summary["categories"]) > 0


# --- pages --------------------------------------------------------------------------------

def test_pool_page_searches_without_signing_in(client, pool):
    response = client.get("/pool", query_string={"province": "广东", "type": "collection",
                                                  "max_annual_fee": "12000", "per_page": 2}, headers=EN)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Alpha 南山网点" in html and "Delta 东莞网点" in html and "Bravo" not in html
    assert "3 listed outlets match" in html  # Alpha, Delta, Golf (Charlie has no fee)
    assert "max_annual_fee_fen=1200000" in html  # the export link carries the filters in fen
    assert "/api/v1/outlets/export?format=csv&amp;province=440000&amp;type=collection" in html
    assert 'data-points-url="/api/v1/outlets/map?province=440000' in html
    assert "page=2" in html  # pager
    assert '<option value="440300" >深圳市</option>' in html  # cities of the chosen province
    assert "<script>" not in html


def test_pool_page_shows_field_messages_for_bad_filters(client, pool):
    response = client.get("/pool?province=火星&near=abc&max_annual_fee=cheap", headers=EN)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in ("province", "near", "max_annual_fee"):
        assert f'data-field="{field}"' in html
    assert 'data-testid="pool-results"' not in html


def test_pool_page_near_shows_distances(client, pool):
    html = client.get(f"/pool?near={FUTIAN[0]},{FUTIAN[1]}&radius_km=20", headers=EN).get_data(as_text=True)
    assert "Bravo 福田贮存中心" in html and " km" in html and "Delta" not in html
    assert 'data-radius-km="20.0"' in html


# --- map points and export ----------------------------------------------------------------

def test_map_points_follow_the_filters(client, pool):
    body = client.get("/api/v1/outlets/map", query_string={"province": "440000"}).json
    assert body["total"] == 5 and not body["truncated"]
    assert {p[3] for p in body["points"]} == {r[0] for r in LISTED if r[1] == "440000"}
    assert all(len(p) == 4 for p in body["points"])
    limited = client.get("/api/v1/outlets/map", query_string={"province": "440000", "limit": 2}).json
    assert len(limited["points"]) == 2 and limited["truncated"] and limited["total"] == 5
    near = client.get("/api/v1/outlets/map", query_string={"near": "22.5431,114.0579", "radius_km": 20}).json
    assert [p[3] for p in near["points"]] == ["Bravo 福田贮存中心", "Alpha 南山网点", "Golf 宝安网点"]
    by_name = client.get("/api/v1/outlets/map", query_string={"near": "22.5431,114.0579", "radius_km": 20,
                                                               "sort": "-name"}).json
    assert [p[3] for p in by_name["points"]] == ["Golf 宝安网点", "Bravo 福田贮存中心", "Alpha 南山网点"]
    assert by_name["points"][0][1:3] == [22.5550, 113.8830]


def test_csv_export_has_a_bom_and_the_rows_in_order(client, pool):
    response = client.get("/api/v1/outlets/export", query_string={"format": "csv", "province": "广东",
                                                                   "sort": "-available_capacity_t"},
                          headers=EN)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["ID", "Outlet", "Type"]
    assert [r[1] for r in rows[1:]] == [n for n in by(7, descending=True) if n[0] in "ABCDG"]
    alpha = next(r for r in rows if r[1].startswith("Alpha"))
    header = rows[0]
    assert alpha[header.index("Annual fee (CNY)")] == "12000.00"
    assert alpha[header.index("City")] == "深圳市"
    assert response.headers["X-Total-Count"] == "5" and response.headers["X-Export-Truncated"] == "false"


def test_export_near_carries_distances(client, pool):
    response = client.get("/api/v1/outlets/export?format=csv&near=22.5431,114.0579&radius_km=20", headers=EN)
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][-1] == "Distance (km)"
    assert [r[1] for r in rows[1:]] == ["Bravo 福田贮存中心", "Alpha 南山网点", "Golf 宝安网点"]
    assert float(rows[2][-1]) == pytest.approx(distance_km(FUTIAN, (22.5329, 113.9305)), abs=1e-3)


def test_xlsx_export_opens_with_openpyxl(client, pool):
    from openpyxl import load_workbook

    response = client.get("/api/v1/outlets/export?format=xlsx&certified=false", headers=EN)
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = load_workbook(io.BytesIO(response.data), read_only=True)
    sheet = workbook[workbook.sheetnames[0]]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("ID", "Outlet")
    assert sorted(r[1] for r in rows[1:]) == ALL_LISTED
    echo = next(r for r in rows if r[1].startswith("Echo"))
    assert echo[rows[0].index("Annual fee (CNY)")] == 0 and echo[rows[0].index("Certified")] == "yes"
    about = dict(workbook["About"].iter_rows(values_only=True))
    assert about["Matches"] == str(len(LISTED))


def test_exported_text_never_runs_as_a_formula(app, client, provider):
    from openpyxl import load_workbook

    with app.app_context():
        db.session.add(Outlet(provider_id=provider.organization_id, name='=HYPERLINK("http://x","y")',
                              address="+1-2", province_code="440000", city_code="440300", lat=22.5,
                              lon=114.0, type="collection", storage_area_m2=1, max_stored_weight_t=1,
                              annual_capacity_t=1, chemistries=[], safety_classes=[],
                              establishment="self_built", status="listed", search_text="x"))
        db.session.commit()
    rows = list(csv.reader(io.StringIO(
        client.get("/api/v1/outlets/export?format=csv").data.decode("utf-8-sig"))))
    assert rows[1][1] == "'=HYPERLINK(\"http://x\",\"y\")" and rows[1][8] == "'+1-2"
    sheet = load_workbook(io.BytesIO(client.get("/api/v1/outlets/export?format=xlsx").data)).worksheets[0]
    assert sheet["B2"].data_type == "s" and sheet["B2"].value.startswith("'=")


def test_export_is_capped_and_says_so(client, pool, monkeypatch):
    from services import registry_export

    monkeypatch.setattr(registry_export, "EXPORT_LIMIT", 3)
    response = client.get("/api/v1/outlets/export?format=csv", headers=EN)
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert len(rows) == 1 + 3 and [r[1] for r in rows[1:]] == ALL_LISTED[:3]
    assert response.headers["X-Export-Truncated"] == "true"
    assert response.headers["X-Total-Count"] == str(len(LISTED))


def test_openapi_documents_the_search(client):
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/outlets"]["get"]
    documented = {p["name"] for p in operation["parameters"]}
    assert documented >= {"province", "city", "district", "type", "certified", "min_capacity_t",
                          "max_annual_fee_fen", "q", "near", "radius_km", "sort", "page", "per_page"}
    per_page = next(p for p in operation["parameters"] if p["name"] == "per_page")
    assert per_page["schema"]["maximum"] == 100
    assert "200" in operation["responses"] and "422" in operation["responses"]
    for path in ("/api/v1/outlets/map", "/api/v1/outlets/export", "/api/v1/outlets/{outlet_id}"):
        assert "get" in spec["paths"][path]


# --- the pool cache (services.data_versions) ------------------------------------------------
# A repeated search costs one token read, every way of changing the pool (ORM edits, bulk
# statements, another process's commit) is seen by the next search, and a rolled-back or
# still-open change is never cached as if it were the pool.

def shenzhen(client, **params) -> list[str]:
    response = client.get("/api/v1/outlets", query_string={"city": "440300", **params}, headers=EN)
    assert response.status_code == 200, response.json
    return [item["name"] for item in response.json["items"]]


def pool_token(app) -> int:
    with app.app_context():
        return db.session.scalar(select(DataVersion.token).where(DataVersion.scope == "pool"))


def test_a_repeated_search_reads_only_the_pool_token(client, pool, statements):
    first = shenzhen(client)
    assert any("from outlets" in s for s in statements)
    statements.clear()
    assert shenzhen(client) == first
    assert not any("outlets" in s for s in statements)
    assert any("data_versions" in s for s in statements)


def test_an_outlet_page_reads_the_pool_token_once_for_its_several_cached_parts(
        client, pool, statements):
    path = f"/outlets/{pool['Golf 宝安网点']}"
    client.get(path)
    statements.clear()
    assert client.get(path).status_code == 200
    assert sum("data_versions" in s for s in statements) == 1
    assert not any("from outlets" in s for s in statements)


def test_the_pool_page_is_rendered_once_per_query_language_and_pool_version(
        app, client, pool, make_party, monkeypatch):
    from app.web import pool as page

    renders = []
    real = page._search_content
    monkeypatch.setattr(page, "_search_content", lambda: renders.append(1) or real())
    maker = make_party("manufacturer")  # (a new organization is a change to the pool)
    en = {"Accept-Language": "en"}
    first = client.get("/pool?city=440300", headers=en).get_data(as_text=True)
    login(client, maker.email)
    signed_in = client.get("/pool?city=440300", headers=en).get_data(as_text=True)
    assert len(renders) == 1 and 'data-testid="logout"' in signed_in
    section = 'data-testid="pool-results"'
    assert first.split(section)[1] == signed_in.split(section)[1]
    client.get("/pool?city=440300&sort=-annual_fee_fen", headers=en)
    client.get("/pool?city=440300", headers={"Accept-Language": "zh-CN"})
    assert len(renders) == 3
    with app.app_context():
        db.session.get(Outlet, pool["Golf 宝安网点"]).name = "Golf 宝安新网点"
        db.session.commit()
    assert "Golf 宝安新网点" in client.get("/pool?city=440300", headers=en).get_data(as_text=True)
    assert len(renders) == 4


def test_an_edit_through_the_orm_is_seen_at_once(app, client, pool):
    before, token = shenzhen(client), pool_token(app)
    with app.app_context():
        db.session.get(Outlet, pool["Alpha 南山网点"]).name = "Alpha 改名"
        db.session.commit()
    assert pool_token(app) != token
    assert shenzhen(client) == sorted(["Alpha 改名", *before[1:]])


def test_a_bulk_statement_is_seen_at_once(app, client, pool):
    shenzhen(client)
    with app.app_context():
        db.session.execute(update(Outlet).where(Outlet.id == pool["Golf 宝安网点"])
                           .values(status="suspended"))
        db.session.commit()
    assert "Golf 宝安网点" not in shenzhen(client)


def test_another_process_commit_is_seen(app, client, pool):
    """A second session on its own connection stands for another app server."""
    shenzhen(client)
    with app.app_context(), Session(db.engine) as other:
        other.get(Outlet, pool["Bravo 福田贮存中心"]).status = "delisted"
        other.commit()
    assert "Bravo 福田贮存中心" not in shenzhen(client)


def test_a_rolled_back_change_leaves_the_token_and_the_answers(app, client, pool):
    before, token = shenzhen(client), pool_token(app)
    with app.app_context():
        db.session.get(Outlet, pool["Alpha 南山网点"]).status = "suspended"
        db.session.flush()
        db.session.rollback()
    assert pool_token(app) == token
    assert shenzhen(client) == before


def test_a_transaction_reads_its_own_uncommitted_changes(app, client, pool):
    from services import pool_search

    shenzhen(client)  # cached for the committed pool
    with app.app_context():
        db.session.get(Outlet, pool["Alpha 南山网点"]).status = "suspended"  # pending, not flushed
        pending = [i["name"] for i in pool_search.search(pool_search.parse({"city": "440300"})).items]
        db.session.flush()
        flushed = [i["name"] for i in pool_search.search(pool_search.parse({"city": "440300"})).items]
        db.session.rollback()
    assert "Alpha 南山网点" not in pending and "Alpha 南山网点" not in flushed
    assert "Alpha 南山网点" in shenzhen(client)


def test_answers_are_copies_a_caller_cannot_spoil(app, client, pool):
    from services import pool_search

    criteria = pool_search.parse({"city": "440300"})
    with app.app_context():
        pool_search.search(criteria).items[0]["name"] = "spoiled"
        assert pool_search.search(criteria).items[0]["name"] != "spoiled"


def test_writes_elsewhere_keep_the_pool_cached(app, client, pool, make_party, statements):
    shenzhen(client)
    make_party("manufacturer")  # organizations are in the pool scope: this one invalidates
    token = pool_token(app)
    shenzhen(client)
    with app.app_context():
        from app.models import Notification

        db.session.execute(update(Notification).values(read_at=None))  # not a pool table
        db.session.commit()
    assert pool_token(app) == token
    statements.clear()
    shenzhen(client)
    assert not any("from outlets" in s for s in statements)


def test_a_narrow_column_bumps_only_its_scopes_and_with_any_other_change_all(app, pool, make_party):
    """organizations.cobuilding_saving is read from the accounts cache alone: writing it keeps
    the pool's answers; changing anything else of the row with it does not."""
    from app.models import DataVersion, Organization

    maker = make_party("manufacturer")

    def tokens():
        return {v.scope: v.token for v in db.session.query(DataVersion)}

    with app.app_context():
        organization = db.session.get(Organization, maker.organization_id)
        before = tokens()
        organization.cobuilding_saving = {"saving_fen": 1}
        db.session.commit()
        narrow = tokens()
        assert narrow["pool"] == before["pool"] and narrow["accounts"] != before["accounts"]
        organization.cobuilding_saving = {"saving_fen": 2}
        organization.legal_name = organization.legal_name + "（新）"
        db.session.commit()
        both = tokens()
        assert both["pool"] != narrow["pool"] and both["accounts"] != narrow["accounts"]


def test_no_cache_when_turned_off(app, client, pool, statements, monkeypatch):
    monkeypatch.setitem(app.config, "DATA_CACHE_ENTRIES", 0)
    shenzhen(client)
    statements.clear()
    shenzhen(client)
    assert any("from outlets" in s for s in statements)


def test_an_outlet_page_follows_its_offer(app, client, pool):
    """The public detail is cached too: a changed offer shows at once, on the API and the page."""
    outlet_id = pool["Alpha 南山网点"]
    with app.app_context():
        db.session.add(CapacityOffer(outlet_id=outlet_id, capacity_t_per_year=400, annual_fee_fen=1_200_000,
                                     handling_fee_fen_per_t=10_000, min_term_months=12,
                                     available_from=datetime(2026, 1, 1).date()))
        db.session.commit()
    first = client.get(f"/api/v1/outlets/{outlet_id}", headers=EN).json
    assert first["offer"]["min_term_months"] == 12
    with app.app_context():
        db.session.execute(update(CapacityOffer).where(CapacityOffer.outlet_id == outlet_id)
                           .values(min_term_months=24))
        db.session.commit()
    assert client.get(f"/api/v1/outlets/{outlet_id}", headers=EN).json["offer"]["min_term_months"] == 24
    assert "24" in client.get(f"/outlets/{outlet_id}", headers=EN).get_data(as_text=True)


def test_another_process_takes_the_answer_from_the_shared_cache(client, pool, statements, shared,
                                                                as_another_process):
    first = shenzhen(client)
    assert len(shared.store) == 1
    as_another_process()
    statements.clear()
    assert shenzhen(client) == first
    assert not any("outlets" in s for s in statements)


def test_a_change_is_never_answered_from_the_shared_cache(app, client, pool, shared, as_another_process):
    shenzhen(client)
    with app.app_context():
        db.session.get(Outlet, pool["Alpha 南山网点"]).name = "Alpha 改名"
        db.session.commit()
    as_another_process()
    assert "Alpha 改名" in shenzhen(client)
    assert len(shared.store) == 2  # the new token's answer beside the old one (its TTL ends it)


def test_a_shared_value_not_signed_by_this_deployment_is_ignored(client, pool, statements, shared,
                                                                 as_another_process):
    import pickle

    from services.pool_search import Page

    first = shenzhen(client)
    (key,) = shared.store
    forged = pickle.dumps(Page([{"name": "forged"}], 1, 1, 20))
    shared.store[key] = b"\0" * 32 + forged
    as_another_process()
    statements.clear()
    assert shenzhen(client) == first
    assert any("from outlets" in s for s in statements)


def test_searches_work_while_redis_is_down_and_stop_asking_it(client, pool, shared, as_another_process):
    first = shenzhen(client)
    shared.fail = True
    as_another_process()
    assert shenzhen(client) == first
    calls = shared.calls
    as_another_process()
    assert shenzhen(client) == first
    assert shared.calls == calls  # resting: no request waits on a dead Redis


def test_the_shared_level_round_trips_through_a_real_redis(app, client, pool, statements, monkeypatch):
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/14"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).flushdb()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    from services import data_versions, shared_cache

    monkeypatch.setitem(app.config, "REDIS_URL", url)
    monkeypatch.setattr(shared_cache, "_resting_until", 0.0)
    first = shenzhen(client)
    monkeypatch.setattr(data_versions, "_cache", data_versions._Lru())
    with app.app_context():
        keys = redis.Redis.from_url(url).keys("outletpool:dv:*")
        assert len(keys) == 1 and redis.Redis.from_url(url).ttl(keys[0]) > 0
    statements.clear()
    assert shenzhen(client) == first
    assert not any("outlets" in s for s in statements)
