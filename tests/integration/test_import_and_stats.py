"""Bulk import (API and page) and national statistics against a real database."""

import csv
import io
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.extensions import db
from app.models import Assessment, AuditEvent, Outlet
from services import outlet_import
from tests.conftest import csrf_token_from
from tests.integration.conftest import login

EN = {"Accept-Language": "en"}
DIVISIONS = Path(__file__).resolve().parents[2] / "services" / "data" / "divisions.csv"
HEADERS = ["企业名称", "省", "市", "区/县", "详细地址", "联系人", "联系电话", "网点类型",
           "贮存面积（平方米）", "最大贮存量（吨）", "年处理能力（吨）", "建设方式"]
ENGLISH = ["Enterprise name", "Province", "City", "District", "Detailed address", "Contact", "Phone",
           "Type", "Storage area (m2)", "Max stored weight (t)", "Annual capacity (t)", "Establishment"]


def regulator_rows(n: int, enterprise: str = "华驰汽车有限公司") -> list[list[str]]:
    """n valid rows spread over every district of the country, in the regulator's layout."""
    with open(DIVISIONS, encoding="utf-8") as f:
        divisions = list(csv.DictReader(f))
    by_code = {d["code"]: d for d in divisions}
    districts = [d for d in divisions if d["level"] == "district"]
    rows = []
    for i in range(n):
        district = districts[i % len(districts)]
        centralized = i % 10 == 0
        rows.append([enterprise, by_code[district["province_code"]]["name"],
                     by_code[district["prefecture_code"]]["name"], district["name"],
                     f"建设路{i + 1}号", "王工", f"1380000{i:04d}",
                     "集中贮存型" if centralized else "收集型", "500" if centralized else "20",
                     "60" if centralized else "4", "300", ("自建", "共建", "授权")[i % 3]])
    return rows


def as_csv(rows, headers=HEADERS) -> bytes:
    return outlet_import.rows_as_csv(rows, headers)


def as_xlsx(rows, headers=ENGLISH) -> bytes:
    workbook = Workbook()
    workbook.active.append(headers)
    for row in rows:
        # numbers as numeric cells, as a spreadsheet program saves them
        workbook.active.append([float(v) if j in (8, 9, 10) else v for j, v in enumerate(row)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def upload(client, party, content: bytes, filename="outlets.csv", **form):
    data = {"file": (io.BytesIO(content), filename), **{k: str(v) for k, v in form.items()}}
    return client.post("/api/v1/outlets/import", data=data, headers={**party.headers, **EN},
                       content_type="multipart/form-data")


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture
def provider(make_party):
    return make_party("provider")


# --- templates ----------------------------------------------------------------------------

def test_templates_download_without_signing_in(client):
    response = client.get("/api/v1/outlets/import-template?format=csv")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    header = next(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert header[:4] == ["企业名称", "网点名称", "省", "市"] and "详细地址" in header

    response = client.get("/api/v1/outlets/import-template?format=xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert [c.value for c in sheet[1]] == header

    layout = client.get("/api/v1/outlets/import-template?format=json").json
    assert {c["header_zh"]: c["required"] for c in layout["columns"]}["企业名称"] is True
    assert client.get("/api/v1/outlets/import-template?format=pdf").status_code == 422


# --- all or nothing -----------------------------------------------------------------------

def test_one_bad_row_among_thousands_rejects_the_file_and_names_line_and_column(app, client, provider):
    rows = regulator_rows(3000)
    rows[1733][9] = "8"  # a collection outlet may hold at most 5 t
    response = upload(client, provider, as_csv(rows))
    assert response.status_code == 422
    body = response.json
    assert body["error"]["code"] == "validation_failed"
    assert [(e["line"], e["column"]) for e in body["errors"]] == [(1735, "最大贮存量（吨）")]
    assert "5" in body["errors"][0]["reason"]
    assert body["error"]["fields"]["rows"] == body["errors"]
    assert count(app, Outlet) == 0
    assert count(app, AuditEvent, AuditEvent.action == "outlet.imported") == 0


def test_every_bad_row_is_listed(client, provider):
    rows = regulator_rows(40)
    rows[2][1] = "火星省"
    rows[5][2] = "深圳市"  # not a city of the row's province
    rows[9][7] = "仓库"
    rows[12][8] = "abc"
    rows[20][0] = ""
    rows[25][0] = "长" * 195  # the outlet name derived from it would be too long
    rows[30] = list(rows[29])  # the same outlet twice
    response = upload(client, provider, as_csv(rows))
    assert response.status_code == 422
    found = {(e["line"], e["column"]) for e in response.json["errors"]}
    assert found == {(4, "省"), (7, "市"), (11, "网点类型"), (14, "贮存面积（平方米）"), (22, "企业名称"),
                     (27, "网点名称"), (32, "详细地址")}
    assert "repeats line 31" in next(e["reason"] for e in response.json["errors"] if e["line"] == 32)


def test_a_missing_column_is_reported_on_the_header_line(client, provider):
    headers = [h for h in HEADERS if h != "建设方式"]
    rows = [r[:-1] for r in regulator_rows(3)]
    response = upload(client, provider, as_csv(rows, headers))
    assert response.status_code == 422
    assert response.json["errors"] == [{"line": 1, "column": "建设方式",
                                        "reason": "required column is missing"}]


# --- idempotence --------------------------------------------------------------------------

def test_reimporting_the_same_file_changes_nothing(app, client, provider):
    content = as_csv(regulator_rows(500))
    first = upload(client, provider, content)
    assert first.status_code == 200, first.json
    assert (first.json["created"], first.json["updated"], first.json["unchanged"]) == (500, 0, 0)
    with app.app_context():
        stamps = dict(db.session.execute(select(Outlet.id, Outlet.updated_at)).all())
        statuses = set(db.session.execute(select(Outlet.status)).scalars())
        assert {s.value for s in statuses} == {"draft"}
    again = upload(client, provider, content)
    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0, 500)
    with app.app_context():
        assert dict(db.session.execute(select(Outlet.id, Outlet.updated_at)).all()) == stamps
        events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "outlet.imported")
                                    .order_by(AuditEvent.id)).scalars().all()
    assert len(events) == 2  # one per import, not one per row
    assert events[0].data["created"] == 500 and events[1].data["unchanged"] == 500
    assert events[0].data["file_sha256"] == first.json["file_sha256"]


def test_changed_rows_update_their_outlet_only(app, client, provider):
    rows = regulator_rows(50)
    upload(client, provider, as_csv(rows))
    rows[7][6] = "13911112222"
    rows[8][10] = "450"
    response = upload(client, provider, as_csv(rows))
    assert (response.json["created"], response.json["updated"], response.json["unchanged"]) == (0, 2, 48)
    with app.app_context():
        phones = db.session.execute(select(Outlet.contact_phone).where(
            Outlet.contact_phone == "13911112222")).scalars().all()
        assert phones == ["13911112222"]
        assert count(app, Outlet) == 50


def test_xlsx_with_english_headers_and_csv_with_chinese_headers_are_the_same_outlets(app, client, provider):
    rows = regulator_rows(30)
    response = upload(client, provider, as_xlsx(rows), "outlets.xlsx")
    assert response.status_code == 200, response.json
    assert response.json["created"] == 30
    again = upload(client, provider, as_csv(rows), "outlets.csv")
    assert (again.json["created"], again.json["unchanged"]) == (0, 30)
    with app.app_context():
        outlet = db.session.execute(select(Outlet).where(Outlet.address.contains("建设路1号"))
                                    .order_by(Outlet.id)).unique().scalars().first()
        assert outlet.province_code == "110000" and outlet.city_code == "110100"
        assert outlet.district_code == "110101" and outlet.address.startswith("北京市东城区")
        assert outlet.type.value == "centralized_storage" and outlet.max_stored_weight_t == 60
        assert outlet.established_with == "华驰汽车有限公司"  # the filing enterprise, not the provider


def test_dry_run_counts_but_saves_nothing(app, client, provider):
    response = upload(client, provider, as_csv(regulator_rows(20)), dry_run="true")
    assert response.status_code == 200 and response.json["dry_run"] is True
    assert response.json["created"] == 20
    assert count(app, Outlet) == 0


# --- who may import -----------------------------------------------------------------------

def test_manufacturers_cannot_import(client, make_party):
    maker = make_party("manufacturer")
    assert upload(client, maker, as_csv(regulator_rows(2))).status_code == 403


def test_operators_import_the_national_list_for_a_chosen_provider(app, client, operator, make_party):
    target = make_party("provider")
    missing = upload(client, operator, as_csv(regulator_rows(2)))
    assert missing.status_code == 422 and "provider_id" in missing.json["error"]["fields"]
    response = upload(client, operator, as_csv(regulator_rows(5)), provider_id=target.organization_id)
    assert response.status_code == 200 and response.json["created"] == 5
    assert count(app, Outlet, Outlet.provider_id == target.organization_id) == 5
    maker = make_party("manufacturer")
    assert upload(client, operator, as_csv(regulator_rows(1)),
                  provider_id=maker.organization_id).status_code == 404


def test_a_provider_cannot_import_into_another_provider(client, provider, make_party):
    other = make_party("provider")
    response = upload(client, provider, as_csv(regulator_rows(1)), provider_id=other.organization_id)
    assert response.status_code == 404


# --- the page -----------------------------------------------------------------------------

def post_file(client, content: bytes, filename="outlets.csv"):
    page = client.get("/outlets/import")
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post("/outlets/import", data={"csrf_token": token,
                                                "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def test_the_import_page_lists_bad_rows_then_imports(app, client, provider):
    login(client, provider.email)
    page = client.get("/outlets/import")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "format=xlsx" in html and "format=csv" in html and "企业名称" in html

    rows = regulator_rows(12)
    rows[4][3] = "南山区"  # not a district of the row's city: a warning, not an error
    rows[6][9] = "9"
    response = post_file(client, as_csv(rows))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-line="8"' in html and "最大贮存量（吨）" in html
    assert count(app, Outlet) == 0

    rows[6][9] = "4"
    response = post_file(client, as_csv(rows))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-testid="count-created">12<' in html
    assert count(app, Outlet) == 12


def test_the_import_page_is_for_providers_and_operators(client, make_party):
    maker = make_party("manufacturer")
    login(client, maker.email)
    assert client.get("/outlets/import").status_code == 403


# --- statistics ---------------------------------------------------------------------------

# (provider, province, city, establishment, status, assessments)
# assessments: (version, complete?, failed categories); no failed categories = passed
SPEC = [
    (0, "440000", "440300", "co_built", "listed", [(1, True, {"working_environment"}), (2, True, set())]),
    (0, "440000", "440300", "self_built", "draft", [(1, True, set()), (2, False, {"facilities"})]),
    (0, "440000", "440100", "self_built", "draft", [(1, True, {"facilities", "systems_processes"})]),
    (1, "330000", "330100", "co_built", "draft", []),
    (1, "330000", "330200", "authorized", "suspended", [(1, True, {"working_environment"})]),
    (1, "320000", "320100", "self_built", "draft", [(1, True, {"facilities"})]),
    (1, "320000", "320500", "co_built", "listed", [(1, True, set())]),
    (2, "110000", "110100", "self_built", "draft", [(1, True, {"systems_processes"})]),
    (2, "510000", "510100", "self_built", "draft", []),
    (2, "650000", "650100", "co_built", "draft", []),
    (2, "430000", "430100", "self_built", "draft", [(1, True, set())]),
    (2, "420000", "420100", "self_built", "draft", []),
    (2, "370000", "370200", "self_built", "draft", []),
    (2, "350000", "350200", "authorized", "draft", []),
    (2, "610000", "610100", "self_built", "draft", []),
    (2, "530000", "530100", "self_built", "draft", []),
    (2, "540000", "540100", "co_built", "delisted", [(1, True, set())]),  # not counted
]
CATEGORIES = ("working_environment", "facilities", "systems_processes")


def expected_figures(spec):
    """The statistics, computed here independently of the service."""
    live = [s for s in spec if s[4] != "delisted"]
    total = len(live)
    provinces = Counter(s[1] for s in live)
    top10 = sum(n for _code, n in provinces.most_common(10))
    latest = [max((a for a in s[5] if a[1]), default=None, key=lambda a: a[0]) for s in live]
    assessed = [a for a in latest if a is not None]
    compliant = sum(1 for a in assessed if not a[2])
    failing = {c: sum(1 for a in assessed if c in a[2]) for c in CATEGORIES}
    return {
        "total": total, "provinces": provinces, "top10": top10,
        "co_built": sum(1 for s in live if s[3] == "co_built"),
        "prefectures": len({s[2] for s in live}), "assessed": len(assessed),
        "compliant": compliant, "failing": failing,
        "by_provider": Counter(s[0] for s in live),
        "regions": {"beijing_tianjin_hebei": provinces["110000"],
                    "yangtze_river_delta": provinces["330000"] + provinces["320000"],
                    "pearl_river_delta": provinces["440000"],
                    "central_china": provinces["430000"] + provinces["420000"]},
    }


@pytest.fixture
def hand_built(app, make_party):
    parties = [make_party("provider") for _ in range(3)]
    items = None
    with app.app_context():
        from services import checklist, divisions
        from services.assessments import evaluate

        items = [{"number": i.number, "category": i.category} for i in checklist.items()]
        version = checklist.current_version()
        for number, (who, province, city, establishment, status, assessments) in enumerate(SPEC):
            place = divisions.index().get(city)
            outlet = Outlet(provider_id=parties[who].organization_id, name=f"网点{number}",
                            address=f"{place.name}路{number}号", province_code=province,
                            city_code=city, lat=place.lat, lon=place.lon, type="collection",
                            storage_area_m2=20, max_stored_weight_t=4, annual_capacity_t=100,
                            establishment=establishment, status=status, search_text="")
            db.session.add(outlet)
            db.session.flush()
            for version_number, complete, failed in assessments:
                answers = {str(i["number"]): {"result": "fail" if i["category"] in failed
                                              else "pass", "note": ""} for i in items}
                passed, results = evaluate(items, answers)
                db.session.add(Assessment(
                    outlet_id=outlet.id, version=version_number, checklist_version=version,
                    answers=answers, completed_at=datetime(2026, 1, version_number, tzinfo=UTC)
                    if complete else None, passed=passed if complete else None,
                    category_results=results if complete else None))
        db.session.commit()
    return parties


def test_national_statistics_match_an_independent_count(client, hand_built):
    expected = expected_figures(SPEC)
    stats = client.get("/api/v1/stats/national").json
    assert stats["total_outlets"] == expected["total"] == 16
    assert {r["province"]: r["count"] for r in stats["by_province"]} == dict(expected["provinces"])
    assert stats["by_province"][0] == {"province": "440000", "name": "广东省", "count": 3,
                                       "share": round(3 / 16, 4)}
    regions = {r["region"]: r["count"] for r in stats["by_region"]}
    for code, n in expected["regions"].items():
        assert regions[code] == n
    assert sum(regions.values()) == expected["total"]
    assert stats["top10_provinces"]["count"] == expected["top10"]
    assert stats["top10_provinces"]["share"] == round(expected["top10"] / 16, 4)
    assert stats["co_built"] == {"count": expected["co_built"], "share": round(expected["co_built"] / 16, 4)}
    assert stats["provinces_covered"] == len(expected["provinces"]) == 12  # Tibet's outlet is delisted
    assert stats["prefecture_regions_covered"] == expected["prefectures"]
    assert stats["assessed_outlets"] == expected["assessed"] == 8
    assert stats["compliant_outlets"] == expected["compliant"] == 4
    assert stats["compliance_rate"] == 0.5
    by_category = {c["category"]: c for c in stats["compliance_by_category"]}
    for code, n in expected["failing"].items():
        assert by_category[code]["failed"] == n
        assert by_category[code]["fail_share"] == round(n / expected["assessed"], 4)
        assert by_category[code]["fail_share_noncompliant"] == round(
            n / (expected["assessed"] - expected["compliant"]), 4)
    top = stats["top20_providers"]
    assert [p["count"] for p in top["providers"]] == sorted(expected["by_provider"].values(), reverse=True)
    assert top["count"] == expected["total"] and stats["providers_total"] == 3
    assert stats["listed_outlets"] == 2


def test_statistics_narrow_to_a_province(client, hand_built):
    stats = client.get("/api/v1/stats/national?province=440000").json
    assert stats["total_outlets"] == 3 and stats["provinces_covered"] == 1
    assert {r["prefecture"]: r["count"] for r in stats["by_prefecture"]} == {"440300": 2, "440100": 1}
    assert stats["compliance_rate"] == round(2 / 3, 4)
    assert client.get("/api/v1/stats/national?province=440300").status_code == 422
    assert client.get("/api/v1/stats/national?province=44").status_code == 422


def test_the_statistics_page_shows_the_figures(client, hand_built):
    response = client.get("/stats", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-testid="total-outlets">16<' in html
    assert 'data-testid="compliance-rate">50.0%<' in html
    assert "广东省" in html and "<svg" in html and 'style="' not in html
    assert client.get("/stats?province=440000", headers=EN).status_code == 200
    # the providers' sentence in each language's own punctuation
    by_type = re.compile(r'data-testid="providers-by-type">([^<]*)<')
    english = by_type.search(html).group(1)
    chinese = by_type.search(client.get("/stats").get_data(as_text=True)).group(1)
    assert re.fullmatch(r"[^;]+ \(\d+ outlets\)(; [^;]+ \(\d+ outlets\))*\.", english), english
    assert "（" in chinese and "个网点）" in chinese and chinese.endswith("。") and ";" not in chinese
    assert client.get("/stats?province=999999").status_code == 404


def test_statistics_of_an_empty_registry(client):
    stats = client.get("/api/v1/stats/national").json
    assert stats["total_outlets"] == 0 and stats["compliance_rate"] == 0
    assert client.get("/stats").status_code == 200
