"""The co-building saving through the API and the page: operator's group, a maker's own figure."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.integration.conftest import login

pytest.importorskip("services.obligations")

SALES = "/api/v1/manufacturers/me/sales"
GROUP = "/api/v1/cobuilding/savings"
MINE = "/api/v1/manufacturers/me/cobuilding-saving"
AS_OF = "2026-06-01"
FEE = 100_000


def _maker(client, make_party, records):
    party = make_party("manufacturer")
    response = client.put(SALES, headers=party.headers, json={"records": records})
    assert response.status_code == 200, response.get_json()
    return party


@pytest.fixture
def makers(client, make_party):
    """Two makers needing collection in Shenzhen, a third alone in Changsha."""
    return {
        "a": _maker(client, make_party, [
            {"division": "440300", "year": 2025, "sales": 1200, "parc": 100}]),
        "b": _maker(client, make_party, [
            {"division": "440300", "year": 2025, "sales": 900, "parc": 100}]),
        "c": _maker(client, make_party, [
            {"division": "430100", "year": 2025, "sales": 700, "parc": 100}]),
    }


@pytest.fixture
def pool(app, make_party):
    from app.extensions import db
    from app.models import Outlet

    provider = make_party("provider")
    rows = [("SZ shared", "440300", "440000", FEE), ("CS only", "430100", "430000", 2 * FEE)]
    with app.app_context():
        for n, (name, city, prov, fee) in enumerate(rows):
            db.session.add(Outlet(
                provider_id=provider.organization_id, name=name, address=f"{name} road {n}",
                province_code=prov, city_code=city, lat=22.5 + n / 100, lon=114.0,
                type="collection", storage_area_m2=40, max_stored_weight_t=5,
                annual_capacity_t=30000, chemistries=["LFP"], safety_classes=["A"],
                establishment="self_built", status="listed", compliant=True, certified=True,
                available_capacity_t=20000, annual_fee_fen=fee, handling_fee_fen_per_t=1_000,
                listed_at=datetime(2026, 1, 1, tzinfo=UTC), search_text=name.lower()))
        db.session.commit()


def _names(app, parties):
    from app.extensions import db
    from app.models import Organization

    with app.app_context():
        return {p.organization_id: db.session.get(Organization, p.organization_id).legal_name
                for p in parties}


def test_operator_group_saving(client, app, operator, makers, pool):
    ids = [p.organization_id for p in makers.values()]
    response = client.post(GROUP, headers=operator.headers,
                           json={"manufacturer_ids": ids, "as_of": AS_OF})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["allocation_rule"] == "proportional_to_standalone"
    assert body["comparable"] and body["status"] == "optimal"
    assert body["total_saving_fen"] == FEE  # the Shenzhen fee is paid once instead of twice
    assert body["standalone_total_fen"] - body["joint_cost_fen"] == FEE
    rows = {r["manufacturer_id"]: r for r in body["makers"]}
    assert sum(r["saving_share_fen"] for r in rows.values()) == FEE
    assert rows[makers["c"].organization_id]["saving_share_fen"] == 0
    assert rows[makers["a"].organization_id]["saving_share_fen"] > 0
    assert set(_names(app, makers.values()).values()) == {r["name"] for r in rows.values()}
    assert [o["name"] for o in body["shared_outlets"]] == ["SZ shared"]


def test_group_endpoint_is_for_operators_and_validates(client, operator, makers, pool):
    ids = [p.organization_id for p in makers.values()]
    response = client.post(GROUP, headers=makers["a"].headers, json={"manufacturer_ids": ids})
    assert response.status_code == 403
    assert client.post(GROUP, json={"manufacturer_ids": ids}).status_code == 401
    response = client.post(GROUP, headers=operator.headers, json={"manufacturer_ids": ids[:1]})
    assert response.status_code == 422
    response = client.post(GROUP, headers=operator.headers,
                           json={"manufacturer_ids": [ids[0], 999_999]})
    assert response.status_code == 422 and "manufacturer_ids" in response.get_json()["error"]["fields"]


OPT_IN = "/api/v1/manufacturers/me/cobuilding-opt-in"


def _opt_in(client, *parties, value=True):
    for party in parties:
        response = client.put(OPT_IN, headers=party.headers, json={"opt_in": value})
        assert response.status_code == 200 and response.get_json() == {"opt_in": value}


def test_no_figures_until_the_maker_opts_in_and_only_opted_in_makers_pool(client, makers, pool):
    before = client.get(f"{MINE}?as_of={AS_OF}", headers=makers["a"].headers).get_json()
    assert before["opted_in"] is False and "saving_fen" not in before
    _opt_in(client, makers["a"])
    alone = client.get(f"{MINE}?as_of={AS_OF}", headers=makers["a"].headers).get_json()
    assert alone["opted_in"] is True and alone["other_makers"] == 0  # b has not opted in
    _opt_in(client, makers["b"])
    shared = client.get(f"{MINE}?as_of={AS_OF}", headers=makers["a"].headers).get_json()
    assert shared["other_makers"] == 1 and shared["saving_fen"] > 0
    bad = client.put(OPT_IN, headers=makers["a"].headers, json={"opt_in": "perhaps"})
    assert bad.status_code == 422 and "opt_in" in bad.get_json()["error"]["fields"]


def test_maker_saving_is_its_own_and_anonymous(client, app, makers, pool):
    _opt_in(client, *makers.values())
    response = client.get(f"{MINE}?as_of={AS_OF}", headers=makers["a"].headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["other_makers"] == 1 and body["cities"] == 1 and body["cities_left_out"] == 0
    assert 0 < body["saving_fen"] < FEE
    assert body["cost_after_sharing_fen"] == body["standalone_cost_fen"] - body["saving_fen"]
    assert body["group_total_saving_fen"] is None  # two makers: the total would reveal the other's
    text = json.dumps(body, ensure_ascii=False)
    for name in _names(app, [makers["b"], makers["c"]]).values():
        assert name not in text
    assert "manufacturer_id" not in text and "makers" not in body

    alone = client.get(f"{MINE}?as_of={AS_OF}", headers=makers["c"].headers).get_json()
    assert alone["other_makers"] == 0 and alone["saving_fen"] == 0


def test_page_opt_in_and_the_number_on_the_dashboard(client, makers, pool):
    from tests.integration.conftest import form_post

    _opt_in(client, makers["b"])
    login(client, makers["a"].email)
    assert "/cobuilding" in client.get("/dashboard").get_data(as_text=True)
    page = client.get(f"/cobuilding?as_of={AS_OF}").get_data(as_text=True)
    assert 'data-testid="opt-in"' in page and 'data-testid="saving"' not in page
    form_post(client, "/cobuilding/opt-in", {"opt_in": "yes"}, page_path="/cobuilding")
    page = client.get(f"/cobuilding?as_of={AS_OF}")
    assert page.status_code == 200
    assert 'data-testid="saving"' in page.get_data(as_text=True)
    # the dashboard shows the figure just computed, without solving again
    assert 'data-testid="dashboard-saving"' in client.get("/dashboard").get_data(as_text=True)


def test_operator_page_for_a_group(client, app, operator, makers, pool):
    from tests.conftest import csrf_token_from

    login(client, operator.email)
    page = client.get("/operator/cobuilding", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    names = _names(app, makers.values())
    assert all(name in html for name in names.values())  # makers with sales are offered
    ids = [str(p.organization_id) for p in makers.values()]
    response = client.post("/operator/cobuilding", headers={"Accept-Language": "en"}, data={
        "manufacturer_ids": ids, "as_of": AS_OF, "csrf_token": csrf_token_from(html)})
    assert response.status_code == 200
    result = response.get_data(as_text=True)
    assert 'data-testid="group-result"' in result and "Total saving" in result
    one = client.post("/operator/cobuilding", data={
        "manufacturer_ids": ids[:1], "csrf_token": csrf_token_from(html)})
    assert one.status_code == 422


def test_makers_cannot_open_the_operator_page(client, makers):
    login(client, makers["a"].email)
    assert client.get("/operator/cobuilding").status_code == 403


def test_the_saving_is_solved_once_until_sales_or_the_pool_change(client, app, makers, pool,
                                                                   monkeypatch):
    from app.extensions import db
    from app.models import DataVersion
    from services import cobuilding_savings

    solves = []
    solve = cobuilding_savings._saving_against_others
    monkeypatch.setattr(cobuilding_savings, "_saving_against_others",
                        lambda *args: solves.append(args) or solve(*args))
    _opt_in(client, makers["a"], makers["b"])
    login(client, makers["a"].email)

    def tokens():
        with app.app_context():
            return {v.scope: v.token for v in db.session.query(DataVersion)}

    before = tokens()
    first = client.get(f"/cobuilding?as_of={AS_OF}").get_data(as_text=True)
    after = tokens()
    again = client.get(f"/cobuilding?as_of={AS_OF}").get_data(as_text=True)
    api = client.get(f"{MINE}?as_of={AS_OF}", headers=makers["a"].headers).get_json()
    assert len(solves) == 1 and api["saving_fen"] > 0
    assert 'data-testid="saving"' in first and first.count("¥") == again.count("¥")
    # The dashboard's copy was written once: only who-is-signed-in answers are renewed (the
    # dashboard shows the copy from them); the pool's and the saving itself are kept.
    assert 'data-testid="dashboard-saving"' in client.get("/dashboard").get_data(as_text=True)
    assert after["accounts"] != before["accounts"]
    assert after["pool"] == before["pool"] and after["obligations"] == before["obligations"]
    assert tokens() == after  # viewing it again wrote nothing
    # Another maker's sales in the city change the answer.
    changed = app.test_client().put(SALES, headers=makers["b"].headers, json={
        "records": [{"division": "440300", "year": 2025, "sales": 5000, "parc": 100}]})
    assert changed.status_code == 200, changed.get_json()
    client.get(f"/cobuilding?as_of={AS_OF}")
    assert len(solves) == 2
