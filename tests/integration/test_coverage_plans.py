"""Coverage plans through the API and the pages: figures -> obligations -> plan."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.conftest import form_post, login

pytest.importorskip("services.obligations")

SALES = "/api/v1/manufacturers/me/sales"
PLANS = "/api/v1/manufacturers/me/coverage-plans"
AS_OF = "2026-06-01"


@pytest.fixture
def maker(make_party, client):
    party = make_party("manufacturer")
    response = client.put(SALES, headers=party.headers, json={"records": [
        {"division": "440300", "year": 2025, "sales": 1200, "parc": 9000},  # collection + storage
        {"division": "430100", "year": 2025, "sales": 800, "parc": 100},    # collection
        {"division": "440100", "year": 2025, "sales": 500, "parc": 100},    # collection, no outlet
    ]})
    assert response.status_code == 200, response.get_json()
    return party


@pytest.fixture
def pool(app, make_party):
    """Listed outlets with offers in Shenzhen and Changsha; a draft one that must be ignored."""
    from app.extensions import db
    from app.models import Outlet

    provider = make_party("provider")
    rows = [  # name, city, province, type, capacity, fee, handling, certified, status
        ("SZ cheap", "440300", "440000", "collection", 500, 100_000, 5_000, False, "listed"),
        ("SZ dear", "440300", "440000", "collection", 500, 300_000, 5_000, True, "listed"),
        ("SZ store", "440300", "440000", "centralized_storage", 500, 800_000, 8_000, True, "listed"),
        ("CS one", "430100", "430000", "collection", 500, 200_000, 4_000, True, "listed"),
        ("CS draft", "430100", "430000", "collection", 500, 1_000, 0, True, "draft"),
    ]
    ids = {}
    with app.app_context():
        for n, (name, city, prov, kind, cap, fee, handling, certified, status) in enumerate(rows):
            outlet = Outlet(
                provider_id=provider.organization_id, name=name, address=f"{name} road {n}",
                province_code=prov, city_code=city, lat=22.5 + n / 100, lon=114.0,
                type=kind, storage_area_m2=40, max_stored_weight_t=5, annual_capacity_t=3000,
                chemistries=["LFP"], safety_classes=["A"], establishment="self_built",
                status=status, compliant=True, certified=certified, available_capacity_t=cap,
                annual_fee_fen=fee, handling_fee_fen_per_t=handling,
                listed_at=datetime(2026, 1, 1, tzinfo=UTC) if status == "listed" else None,
                search_text=name.lower())
            db.session.add(outlet)
            db.session.flush()
            ids[name] = outlet.id
        db.session.commit()
    return ids


def test_post_get_and_list_a_plan(client, maker, pool):
    response = client.post(PLANS, headers=maker.headers, json={"as_of": AS_OF})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "optimal"
    assert body["rule_set"].startswith("measures-2026")
    result = body["result"]
    chosen = {(a["city"], a["outlet_type"]): a["outlet_id"] for a in result["assignments"]}
    assert chosen == {("440300", "collection"): pool["SZ cheap"],
                      ("440300", "centralized_storage"): pool["SZ store"],
                      ("430100", "collection"): pool["CS one"]}
    assert [(u["city"], u["reason"]) for u in result["uncoverable"]] == [
        ("440100", "no_outlet_of_type")]
    sz = next(a for a in result["assignments"] if a["outlet_id"] == pool["SZ cheap"])
    assert sz["alternative_outlet_id"] == pool["SZ dear"]
    assert sz["alternative_extra_fen"] == 200_000
    assert body["cost_fen"] >= 100_000 + 800_000 + 200_000
    assert body["cost_fen"] == sum(a["cost_share_fen"] for a in result["assignments"])
    assert body["greedy_cost_fen"] >= body["cost_fen"]
    assert body["lower_bound_fen"] <= body["cost_fen"] and body["gap"] <= 0.005

    got = client.get(f"{PLANS}/{body['id']}", headers=maker.headers)
    assert got.status_code == 200 and got.get_json()["cost_fen"] == body["cost_fen"]
    listing = client.get(PLANS, headers=maker.headers).get_json()["items"]
    assert [p["id"] for p in listing] == [body["id"]]

    certified = client.post(PLANS, headers=maker.headers,
                            json={"as_of": AS_OF, "certified_only": True}).get_json()
    chosen = {(a["city"], a["outlet_type"]): a["outlet_id"]
              for a in certified["result"]["assignments"]}
    assert chosen[("440300", "collection")] == pool["SZ dear"]
    assert certified["cost_fen"] - body["cost_fen"] == 200_000


def test_another_maker_gets_404_and_a_provider_403(client, maker, pool, make_party):
    plan_id = client.post(PLANS, headers=maker.headers, json={"as_of": AS_OF}).get_json()["id"]
    other = make_party("manufacturer")
    assert client.get(f"{PLANS}/{plan_id}", headers=other.headers).status_code == 404
    assert client.get(PLANS, headers=other.headers).get_json()["items"] == []
    provider = make_party("provider")
    assert client.post(PLANS, headers=provider.headers, json={}).status_code == 403
    assert client.get(PLANS).status_code == 401


def test_bad_options_are_422(client, maker, pool):
    response = client.post(PLANS, headers=maker.headers,
                           json={"as_of": AS_OF, "require": [pool["SZ dear"]],
                                 "exclude": [pool["SZ dear"]]})
    assert response.status_code == 422
    assert "require" in response.get_json()["error"]["fields"]
    response = client.post(PLANS, headers=maker.headers, json={"time_limit_s": 999})
    assert response.status_code == 422


def test_budget_mode_covers_what_the_budget_allows(client, maker, pool):
    body = client.post(PLANS, headers=maker.headers,
                       json={"as_of": AS_OF, "budget_fen": 400_000}).get_json()
    assert body["result"]["covered"] == 2  # the storage outlet alone costs 800,000 fen
    assert body["cost_fen"] <= 400_000
    assert ("440300", "over_budget") in {(u["city"], u["reason"])
                                         for u in body["result"]["uncoverable"]}


def test_a_repeated_plan_reuses_the_solve_until_the_pool_or_the_sales_change(
        app, client, maker, pool, monkeypatch):
    from app.extensions import db
    from app.models import Outlet
    from services import coverage_plans

    solves = []
    real_plan = coverage_plans.plan
    monkeypatch.setattr(coverage_plans, "plan", lambda *a: solves.append(1) or real_plan(*a))

    def ask(**options):
        response = client.post(PLANS, headers=maker.headers, json={"as_of": AS_OF, **options})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    first, again = ask(), ask()
    assert len(solves) == 1 and again["id"] != first["id"]  # each request saves its own plan
    assert again["result"] == first["result"] and again["cost_fen"] == first["cost_fen"]
    ask(certified_only=True)
    assert len(solves) == 2  # other options: another question

    with app.app_context():
        db.session.get(Outlet, pool["SZ cheap"]).annual_fee_fen = 400_000  # now dearer than "SZ dear"
        db.session.commit()
    repriced = ask()
    assert len(solves) == 3
    chosen = {(a["city"], a["outlet_type"]): a["outlet_id"] for a in repriced["result"]["assignments"]}
    assert chosen[("440300", "collection")] == pool["SZ dear"]

    client.put(SALES, headers=maker.headers, json={"records": [
        {"division": "430100", "year": 2025, "sales": 800, "parc": 100}]})
    fewer = ask()
    assert len(solves) == 4 and fewer["result"]["demands"] < repriced["result"]["demands"]


def test_pages_new_plan_detail_and_compare(client, maker, pool):
    login(client, maker.email)
    response = form_post(client, "/coverage-plans", {"as_of": AS_OF})
    assert response.status_code == 302, response.get_data(as_text=True)
    first = response.headers["Location"]
    page = client.get(first).get_data(as_text=True)
    assert "SZ cheap" in page and "SZ dear" in page  # chosen and next best
    to_contract = page.split('data-testid="plan-outlets"', 1)[1].split("</table>", 1)[0]
    assert "深圳市" in to_contract  # the outlets' cities by name, not by bare code
    assert "依据《新能源汽车废旧动力电池回收和综合利用管理暂行办法》的义务" in page  # the rules by name
    response = form_post(client, "/coverage-plans", {"as_of": AS_OF, "certified_only": "y"})
    assert response.status_code == 302
    a, b = first.rsplit("/", 1)[1], response.headers["Location"].rsplit("/", 1)[1]
    listing = client.get("/coverage-plans").get_data(as_text=True)
    assert f"/coverage-plans/{a}" in listing and f"/coverage-plans/{b}" in listing
    compared = client.get(f"/coverage-plans/compare?a={a}&b={b}")
    assert compared.status_code == 200
    assert "SZ dear" in compared.get_data(as_text=True)
    bad = form_post(client, "/coverage-plans", {"as_of": AS_OF, "service_radius_km": "-3"})
    assert bad.status_code == 422


def test_saved_plans_come_a_page_at_a_time(client, maker, pool, monkeypatch):
    from app.web import coverage_plans as pages

    ids = [client.post(PLANS, headers=maker.headers, json={"as_of": AS_OF}).get_json()["id"]
           for _ in range(5)]
    newest_first = ids[::-1]
    page = client.get(PLANS, query_string={"per_page": 2, "page": 2}, headers=maker.headers).get_json()
    assert [p["id"] for p in page["items"]] == newest_first[2:4]
    assert (page["total"], page["page"], page["per_page"]) == (5, 2, 2)
    refused = client.get(PLANS, query_string={"per_page": 0}, headers=maker.headers)
    assert refused.status_code == 422 and "per_page" in refused.get_json()["error"]["fields"]

    monkeypatch.setattr(pages, "PER_PAGE", 2)
    login(client, maker.email)
    last = client.get("/coverage-plans?page=3", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f"/coverage-plans/{ids[0]}" in last and f"/coverage-plans/{ids[1]}" not in last
    assert "Page 3 of 3" in last
