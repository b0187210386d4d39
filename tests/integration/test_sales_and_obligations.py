"""Sales and parc by city through the API and the pages, and the obligations they trigger."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from services import obligations
from tests.integration.conftest import form_post, login

SALES = "/api/v1/manufacturers/me/sales"
OBLIGATIONS = "/api/v1/manufacturers/me/obligations"


@pytest.fixture
def maker(make_party):
    return make_party("manufacturer")


def put(client, party, records):
    return client.put(SALES, json={"records": records}, headers=party.headers)


def upload(client, party, text: str, name="sales.csv"):
    # English messages: the assertions below read them.
    return client.put(SALES, headers={**party.headers, "Accept-Language": "en"},
                      content_type="multipart/form-data",
                      data={"file": (io.BytesIO(text.encode("utf-8")), name)})


def listed(client, party) -> list[dict]:
    response = client.get(SALES, headers=party.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["records"]


def test_put_json_then_list(client, maker):
    response = put(client, maker, [
        {"division": "440300", "year": 2025, "sales": 1200, "parc": 5300},
        {"division": "长沙市", "year": 2025, "sales": 800},
        {"division": "北京", "year": 2024, "sales": 10},
    ])
    assert response.status_code == 200, response.get_json()
    assert response.get_json() | {"manufacturer_id": 0} == {
        "manufacturer_id": 0, "years": [2024, 2025], "records": 3, "replaced": 0}
    rows = {(r["division"], r["year"]): r for r in listed(client, maker)}
    assert rows[("440300", 2025)]["parc"] == 5300
    assert rows[("430100", 2025)]["parc"] is None
    assert ("110100", 2024) in rows  # a municipality is its own prefecture-level region


def test_put_replaces_only_the_years_given(client, maker):
    put(client, maker, [{"division": "440300", "year": 2024, "sales": 100},
                        {"division": "430100", "year": 2025, "sales": 200},
                        {"division": "440100", "year": 2025, "sales": 300}])
    response = put(client, maker, [{"division": "440300", "year": 2025, "sales": 999}])
    assert response.get_json()["replaced"] == 2
    rows = {(r["division"], r["year"]): r["sales"] for r in listed(client, maker)}
    assert rows == {("440300", 2024): 100, ("440300", 2025): 999}


def test_csv_upload_with_names_and_codes(client, maker):
    text = "城市,年份,销量,保有量\n440300,2025,1200,5300\n长沙市,2025,800,\n"
    response = upload(client, maker, text)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["records"] == 2
    assert {r["division"] for r in listed(client, maker)} == {"440300", "430100"}


def test_bad_rows_are_all_reported_and_nothing_is_written(client, maker):
    put(client, maker, [{"division": "440300", "year": 2025, "sales": 100}])
    text = ("City,Year,Sales,Parc\n"
            "440300,2025,1200,\n"
            "深圳市南山区,2025,10,\n"   # a district: refused with its city
            "广东省,2025,10,\n"         # a province
            "nowhere,2025,10,\n"
            "430100,20x5,-3,\n"
            "440300,2025,5,\n")         # duplicate of line 2
    response = upload(client, maker, text)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["code"] == "validation_failed"
    rows = body["error"]["fields"]["rows"]
    by_line = {}
    for row in rows:
        by_line.setdefault(row["line"], []).append(row)
    assert sorted(by_line) == [3, 4, 5, 6, 7]
    assert "440300" in by_line[3][0]["reason"] and by_line[3][0]["column"] == "City"
    assert {r["column"] for r in by_line[6]} == {"Year", "Sales"}
    assert "line 2" in by_line[7][0]["reason"]
    assert [(r["division"], r["sales"]) for r in listed(client, maker)] == [("440300", 100)]


def test_bad_json_records_are_reported_by_position(client, maker):
    response = put(client, maker, [{"division": "440300", "year": 2025, "sales": 1},
                                   {"division": "440300", "sales": 1.5}])
    assert response.status_code == 422
    rows = response.get_json()["error"]["fields"]["rows"]
    assert {(r["line"], r["column"]) for r in rows} == {(2, "year"), (2, "sales")}
    assert listed(client, maker) == []
    assert client.put(SALES, json={"rows": []}, headers=maker.headers).status_code == 422


def test_obligations_shape_threshold_and_rule_set_boundary(client, maker):
    put(client, maker, [
        {"division": "440300", "year": 2025, "sales": 1200, "parc": 8000},
        {"division": "430100", "year": 2025, "sales": 800, "parc": 7999},
        {"division": "440100", "year": 2025, "sales": 5000},
    ])
    before = client.get(f"{OBLIGATIONS}?as_of=2026-03-31", headers=maker.headers).get_json()
    after = client.get(f"{OBLIGATIONS}?as_of=2026-04-01", headers=maker.headers).get_json()
    assert before["rule_set"]["code"] == "guidelines-2019"
    assert after["rule_set"]["code"] == "measures-2026"
    cities = {c["division"]: c for c in after["cities"]}
    assert cities["440300"]["required"] == ["collection", "centralized_storage"]
    assert cities["430100"]["required"] == ["collection"]
    assert cities["440100"]["parc_estimated"] is True
    shenzhen = cities["440300"]
    assert {"division", "required", "status", "parc", "expected_tonnes", "met_by"} <= set(shenzhen)
    assert shenzhen["status"] == "uncovered" and shenzhen["met_by"] == []
    assert shenzhen["citations"][1]["rule_ref"].startswith("M2026")
    assert shenzhen["citations"][1]["value"] == 8000
    assert after["counts"]["cities"] == 3 and after["counts"]["uncovered"] == 3
    assert after["share_covered"] == 0.0
    # sales recorded for 2025 only: nothing yet in 2024
    early = client.get(f"{OBLIGATIONS}?as_of=2024-06-01", headers=maker.headers).get_json()
    assert early["cities"] == []


def test_obligations_follow_corrected_sales_at_once(app, client, maker):
    """The report is cached per maker and day (services.data_versions); new sales, a changed
    rule set and another maker's figures must each show or stay apart at once."""
    put(client, maker, [{"division": "440300", "year": 2025, "sales": 1200, "parc": 7000}])
    url = f"{OBLIGATIONS}?as_of=2026-06-01"
    first = client.get(url, headers=maker.headers).get_json()
    assert first["cities"][0]["required"] == ["collection"]
    assert client.get(url, headers=maker.headers).get_json() == first  # served again
    put(client, maker, [{"division": "440300", "year": 2025, "sales": 1200, "parc": 8000}])
    assert client.get(url, headers=maker.headers).get_json()["cities"][0]["required"] == [
        "collection", "centralized_storage"]
    with app.app_context():
        from sqlalchemy import update

        from app.extensions import db
        from app.models import RuleSet

        def move_boundary(to: date) -> None:
            db.session.execute(update(RuleSet).where(RuleSet.code == "guidelines-2019")
                               .values(effective_to=to - timedelta(days=1)))
            db.session.execute(update(RuleSet).where(RuleSet.code == "measures-2026")
                               .values(effective_from=to))
            db.session.commit()

        move_boundary(date(2027, 1, 1))
        try:
            assert client.get(url, headers=maker.headers).get_json()["rule_set"]["code"] == "guidelines-2019"
        finally:
            move_boundary(date(2026, 4, 1))


def test_a_report_from_the_shared_cache_is_the_report(client, maker, shared, as_another_process,
                                                     monkeypatch):
    """With REDIS_URL, another worker answers from the shared level what this one computed."""
    put(client, maker, [{"division": "440300", "year": 2025, "sales": 1200, "parc": 9000}])
    url = f"{OBLIGATIONS}?as_of=2026-06-01"
    computed = client.get(url, headers=maker.headers).get_json()
    as_another_process()
    monkeypatch.setattr(obligations, "_compute_for", lambda *_: pytest.fail("computed again"))
    assert client.get(url, headers=maker.headers).get_json() == computed


def test_the_obligations_answer_is_serialized_once_per_version(client, maker, monkeypatch):
    from app.api import manufacturers

    put(client, maker, [{"division": "440300", "year": 2025, "sales": 1200, "parc": 9000}])
    url = f"{OBLIGATIONS}?as_of=2026-06-01"
    first = client.get(url, headers=maker.headers).get_json()
    monkeypatch.setattr(manufacturers.ObligationReportSchema, "dump",
                        lambda *_a, **_k: pytest.fail("serialized again"))
    assert client.get(url, headers=maker.headers).get_json() == first


def test_obligations_export(client, maker):
    put(client, maker, [{"division": "440300", "year": 2025, "sales": 1200, "parc": 9000}])
    csv_body = client.get(f"{OBLIGATIONS}/export?format=csv&as_of=2026-04-01",
                          headers=maker.headers)
    assert csv_body.status_code == 200
    text = csv_body.get_data().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("division,name")
    assert "440300" in text and "collection;centralized_storage" in text
    xlsx = client.get(f"{OBLIGATIONS}/export?format=xlsx&as_of=2026-04-01", headers=maker.headers)
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    assert sheet.cell(2, 1).value == "440300"


def test_another_maker_cannot_see_your_figures(client, maker, make_party):
    put(client, maker, [{"division": "440300", "year": 2025, "sales": 1200}])
    other = make_party("manufacturer")
    assert listed(client, other) == []
    assert client.get(OBLIGATIONS, headers=other.headers).get_json()["cities"] == []


def test_a_provider_gets_403(client, make_party):
    provider = make_party("provider")
    for response in (client.get(SALES, headers=provider.headers),
                     put(client, provider, [{"division": "440300", "year": 2025, "sales": 1}]),
                     client.get(OBLIGATIONS, headers=provider.headers)):
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "forbidden"


def test_unauthenticated_401(client):
    assert client.get(SALES).status_code == 401


def test_templates_download(client):
    csv_template = client.get(f"{SALES}/template?format=csv")
    assert csv_template.status_code == 200
    assert csv_template.get_data().decode("utf-8-sig").startswith("城市,年份,销量,保有量")
    xlsx = client.get(f"{SALES}/template?format=xlsx")
    assert load_workbook(io.BytesIO(xlsx.get_data())).active.cell(1, 1).value == "城市"


def test_sales_page_entry_correction_and_obligations_page(client, maker):
    login(client, maker.email)
    page = client.get("/sales")
    assert page.status_code == 200 and b"template-links" in page.data
    response = form_post(client, "/sales", {"entry-division": "深圳市", "entry-year": "2025",
                                            "entry-sales": "1200", "entry-parc": "8100",
                                            "entry-submit": "1"})
    assert response.status_code == 302
    response = form_post(client, "/sales", {"entry-division": "440300", "entry-year": "2025",
                                            "entry-sales": "1300", "entry-parc": "",
                                            "entry-submit": "1"})
    assert response.status_code == 302
    assert [(r["sales"], r["parc"]) for r in listed(client, maker)] == [(1300, None)]
    bad = form_post(client, "/sales", {"entry-division": "440305", "entry-year": "2025",
                                       "entry-sales": "1", "entry-submit": "1"})
    assert bad.status_code == 422 and b"440300" in bad.data
    report = client.get("/obligations?as_of=2026-04-01")
    assert report.status_code == 200
    html = report.get_data(as_text=True)
    assert 'data-division="440300"' in html and "obligations-map.js" in html
    assert "：销量 1300 ≥ 1" in html and "&gt;=" not in html  # the rule in words and signs
    # the rules by the regulation's name (the code stays beside it, for reference)
    assert "2026-04-01 适用的规则：《新能源汽车废旧动力电池回收和综合利用管理暂行办法》" in html
    assert "<script>" not in html.replace("<script src=", "")


def test_the_obligations_report_is_rendered_once_per_version_and_language(
        client, maker, monkeypatch):
    from app.web import obligations as page

    renders = []
    real = page._report_body
    monkeypatch.setattr(page, "_report_body", lambda *a: renders.append(1) or real(*a))
    put(client, maker, [{"division": "440300", "year": 2025, "sales": 1200, "parc": 8100}])
    login(client, maker.email)
    en = {"Accept-Language": "en"}

    first = client.get("/obligations?as_of=2026-04-01", headers=en).get_data(as_text=True)
    again = client.get("/obligations?as_of=2026-04-01", headers=en).get_data(as_text=True)
    assert renders == [1] and 'data-division="440300"' in again
    assert first.split('id="obligations-map"')[1] == again.split('id="obligations-map"')[1]
    client.get("/obligations?as_of=2026-04-02", headers=en)  # another date: another report
    assert len(renders) == 2

    assert form_post(client, "/sales", {"entry-division": "430100", "entry-year": "2025",
                                        "entry-sales": "5", "entry-parc": "5",
                                        "entry-submit": "1"}).status_code == 302
    changed = client.get("/obligations?as_of=2026-04-01", headers=en).get_data(as_text=True)
    assert len(renders) == 3 and 'data-division="430100"' in changed


def test_the_obligations_table_shows_one_status_and_links_each_gap_to_the_pool(client, maker):
    put(client, maker, [{"division": "440300", "year": 2025, "sales": 1200, "parc": 8100},
                        {"division": "430100", "year": 2025, "sales": 50, "parc": None}])
    login(client, maker.email)
    en = {"Accept-Language": "en"}

    def rows(html):
        return re.findall(r'<tr data-division="(\d+)" data-status="(\w+)"', html)

    every = client.get("/obligations?as_of=2026-04-01", headers=en).get_data(as_text=True)
    assert sorted(rows(every)) == [("430100", "uncovered"), ("440300", "uncovered")]
    assert "All (2)" in every and "Uncovered (2)" in every and "Covered (" not in every
    # From a gap to the pool's outlets of the type missing there.
    assert '/pool?city=440300&amp;type=collection' in every
    gaps = client.get("/obligations?as_of=2026-04-01&status=uncovered", headers=en).get_data(as_text=True)
    assert len(rows(gaps)) == 2 and '<strong aria-current="true">Uncovered (2)' in gaps
    assert 'href="/obligations?as_of=2026-04-01"' in gaps  # back to every city, same date
    none = client.get("/obligations?as_of=2026-04-01&status=covered", headers=en).get_data(as_text=True)
    assert rows(none) == [] and "Covered (0)" in none
    odd = client.get("/obligations?as_of=2026-04-01&status=green", headers=en)
    assert odd.status_code == 200 and "“green” is not a status" in odd.get_data(as_text=True)
    assert len(rows(odd.get_data(as_text=True))) == 2
    both = client.get("/obligations?as_of=soon&status=green", headers=en).get_data(as_text=True)
    assert "“soon” is not a date" in both and "“green” is not a status" in both  # each named


def test_provider_cannot_open_the_pages(client, make_party):
    provider = make_party("provider")
    login(client, provider.email)
    assert client.get("/sales").status_code == 403
    assert client.get("/obligations").status_code == 403


def test_xlsx_upload_uses_spreadsheet_line_numbers(client, maker):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["2025 NEV sales"])  # a title line above the header row
    sheet.append(["城市", "年份", "销量", "保有量"])
    sheet.append(["440300", 2025, 1200, 5300])
    sheet.append(["广东省", 2025, 5, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = client.put(SALES, headers=maker.headers, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(buffer.getvalue()), "sales.xlsx")})
    assert response.status_code == 422
    assert [(r["line"], r["column"]) for r in response.get_json()["error"]["fields"]["rows"]] == \
        [(4, "城市")]
    sheet.delete_rows(4)
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = client.put(SALES, headers=maker.headers, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(buffer.getvalue()), "sales.xlsx")})
    assert response.status_code == 200, response.get_json()
    assert [(r["division"], r["parc"]) for r in listed(client, maker)] == [("440300", 5300)]


def test_the_sales_page_shows_a_year_at_a_time_a_page_of_cities_at_a_time(app, client, maker,
                                                                           monkeypatch):
    from app.web import obligations as pages

    monkeypatch.setattr(pages, "PER_PAGE", 2)
    cities = ("440300", "430100", "110100")
    assert put(client, maker, [{"division": c, "year": y, "sales": 100 + n, "parc": None}
                               for y in (2024, 2025) for n, c in enumerate(cities)]).status_code == 200
    browser = app.test_client()
    login(browser, maker.email)

    def shown(path):
        html = browser.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
        return html, re.findall(r'<tr data-division="(\d+)" data-year="(\d+)"', html)

    latest, rows = shown("/sales")
    assert "2025 (3)" in latest and "2024 (3)" in latest and "Page 1 of 2" in latest
    assert rows == [("110100", "2025"), ("430100", "2025")]
    assert shown("/sales?year=2025&page=2")[1] == [("440300", "2025")]
    assert {y for _c, y in shown("/sales?year=2024")[1]} == {"2024"}
    assert shown("/sales?year=1999")[1] == rows  # a year with no figures: the latest
    # A figure typed in for another year lands on that year's list.
    response = form_post(browser, "/sales", {"entry-division": "440300", "entry-year": "2023",
                                             "entry-sales": "5", "entry-submit": "1"})
    assert response.headers["Location"].endswith("/sales?year=2023")
    assert shown("/sales?year=2023")[1] == [("440300", "2023")]
