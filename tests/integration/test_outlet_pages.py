"""A provider works its outlets in the browser: form, assessment, listing, evidence, offer."""

import io
import re

from app.extensions import db
from app.models import Outlet
from tests.conftest import csrf_token_from
from tests.integration.conftest import form_post, login

EN = {"Accept-Language": "en"}


def outlet_form(**overrides):
    data = {"name": "宝安网点", "address": "广东省深圳市宝安区新安街道1号", "lat": "", "lon": "",
            "type": "collection", "storage_area_m2": "15", "max_stored_weight_t": "5",
            "annual_capacity_t": "200", "chemistries": ["LFP"], "safety_classes": ["A", "B"],
            "establishment": "co_built", "established_with": "华南新能源汽车有限公司",
            "facilities": "", "opening_hours": "9:00-17:00", "contact_name": "", "contact_phone": ""}
    data.update(overrides)
    return data


def test_provider_creates_assesses_lists_and_offers_in_the_browser(app, client, make_party):
    provider = make_party("provider")
    login(client, provider.email)
    created = form_post(client, "/outlets/new", outlet_form())
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    manage_path = created.headers["Location"]
    outlet_id = int(re.search(r"/outlets/(\d+)/manage", manage_path).group(1))

    page = client.get(f"/outlets/{outlet_id}/assessment")
    token = csrf_token_from(page.get_data(as_text=True))
    answers = {f"result-{n}": "pass" for n in range(1, 25)}
    done = client.post(f"/outlets/{outlet_id}/assessment",
                       data={**answers, "result-7": "fail", "note-7": "mixed storage",
                             "csrf_token": token, "action": "complete"})
    assert done.status_code == 302
    manage = client.get(manage_path, headers=EN).get_data(as_text=True)
    assert "Not compliant" in manage and "7." in manage

    token = csrf_token_from(client.get(f"/outlets/{outlet_id}/assessment").get_data(as_text=True))
    client.post(f"/outlets/{outlet_id}/assessment",
                data={**answers, "csrf_token": token, "action": "complete"})
    token = csrf_token_from(client.get(manage_path).get_data(as_text=True))
    listed = client.post(f"/outlets/{outlet_id}/status", data={"status": "listed", "csrf_token": token})
    assert listed.status_code == 302
    with app.app_context():
        assert db.session.get(Outlet, outlet_id).status.value == "listed"

    fractional = form_post(client, manage_path, {
        "offer-capacity_t_per_year": "80", "offer-annual_fee_yuan": "12000.505",
        "offer-handling_fee_yuan_per_t": "150", "offer-min_term_months": "12",
        "offer-available_from": "2026-12-01", "offer-available_to": "", "offer-submit": "1"})
    assert fractional.status_code == 422  # a fee is never rounded to the fen silently
    with app.app_context():
        assert db.session.get(Outlet, outlet_id).annual_fee_fen is None

    offer = form_post(client, manage_path, {
        "offer-capacity_t_per_year": "80", "offer-annual_fee_yuan": "12000.50",
        "offer-handling_fee_yuan_per_t": "150", "offer-min_term_months": "12",
        "offer-available_from": "2026-12-01", "offer-available_to": "", "offer-submit": "1"})
    assert offer.status_code == 302
    with app.app_context():
        outlet = db.session.get(Outlet, outlet_id)
        assert outlet.annual_fee_fen == 1_200_050 and outlet.available_capacity_t == 80

    token = csrf_token_from(client.get(manage_path).get_data(as_text=True))
    upload = client.post(f"/outlets/{outlet_id}/evidence", data={
        "evidence-file": (io.BytesIO(b"%PDF-1.4 test"), "procedures.pdf"),
        "evidence-checklist_item": "24", "csrf_token": token},
        content_type="multipart/form-data")
    assert upload.status_code == 302
    manage = client.get(manage_path).get_data(as_text=True)
    assert "procedures.pdf" in manage
    mine = client.get("/outlets/mine", headers=EN).get_data(as_text=True)
    assert "宝安网点" in mine and "Compliant" in mine


def test_the_form_shows_the_rule_violation_next_to_the_field(client, make_party):
    provider = make_party("provider")
    login(client, provider.email)
    response = form_post(client, "/outlets/new", outlet_form(max_stored_weight_t="9"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-field="max_stored_weight_t"' in html and "≤ 5" in html


def test_manufacturers_have_no_outlet_pages(client, make_party):
    maker = make_party("manufacturer")
    login(client, maker.email)
    assert client.get("/outlets/mine").status_code == 403
    assert client.get("/outlets/new").status_code == 403


def test_another_providers_outlet_pages_are_404(client, make_party):
    owner = make_party("provider")
    login(client, owner.email)
    created = form_post(client, "/outlets/new", outlet_form())
    outlet_id = int(re.search(r"/outlets/(\d+)/manage", created.headers["Location"]).group(1))
    rival_client = client.application.test_client()
    rival = make_party("provider")
    login(rival_client, rival.email)
    for path in (f"/outlets/{outlet_id}/manage", f"/outlets/{outlet_id}/edit",
                 f"/outlets/{outlet_id}/assessment"):
        assert rival_client.get(path).status_code == 404, path


def test_the_outlet_pages_public_part_is_rendered_once_per_pool_version_and_language(
        app, client, make_party, shared_outlet, monkeypatch):
    from app.web import pool

    outlet_id, _provider = shared_outlet
    renders = []
    real = pool._public_parts
    monkeypatch.setattr(pool, "_public_parts", lambda *a: renders.append(a[1]) or real(*a))
    path = f"/outlets/{outlet_id}"
    maker = make_party("manufacturer")  # (a new organization is a change to the pool)

    anonymous = client.get(path, headers=EN).get_data(as_text=True)
    assert "宝安共享网点" in anonymous and 'data-testid="request-capacity"' not in anonymous
    login(client, maker.email)
    signed_in = client.get(path, headers=EN).get_data(as_text=True)
    assert renders == ["en"]  # the maker's page reuses the public part ...
    assert 'data-testid="request-capacity"' in signed_in  # ... and adds its own panel
    assert "Compliance" in signed_in and "合规" not in signed_in
    assert "合规" in client.get(path, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert renders == ["en", "zh"]

    with app.app_context():
        db.session.get(Outlet, outlet_id).name = "宝安共享网点（新址）"
        db.session.commit()
    assert "宝安共享网点（新址）" in client.get(path, headers=EN).get_data(as_text=True)
    assert renders == ["en", "zh", "en"]


def _many_outlets(app, provider_id: int) -> dict[str, int]:
    """55 outlets: 40 drafts in Shenzhen, 15 listed in Guangzhou (one named 天河); three
    assessed: the first Shenzhen draft failing, the second passing with a newer draft on top."""
    from app.models import Assessment
    from app.models.types import utcnow
    from services import checklist

    rows = [(f"深圳网点{n:02d}", "440300", "draft") for n in range(40)] + \
           [(f"广州网点{n:02d}" + ("天河" if n == 7 else ""), "440100", "listed") for n in range(15)]
    with app.app_context():
        version = checklist.current_version()
        outlets = [Outlet(provider_id=provider_id, name=name, address=f"{name}路1号",
                          province_code="440000", city_code=city, lat=23.0, lon=113.5,
                          type="collection", storage_area_m2=20, max_stored_weight_t=5,
                          annual_capacity_t=100, chemistries=["LFP"], safety_classes=["A"],
                          establishment="self_built", status=status, search_text=f"{name} {name}路1号")
                   for name, city, status in rows]
        db.session.add_all(outlets)
        db.session.flush()
        failing = {str(n): {"result": "fail" if n == 7 else "pass"} for n in range(1, 25)}
        passing = {str(n): {"result": "pass"} for n in range(1, 25)}
        db.session.add_all([
            Assessment(outlet_id=outlets[0].id, version=1, checklist_version=version,
                       answers=failing, completed_at=utcnow(), passed=False),
            Assessment(outlet_id=outlets[1].id, version=1, checklist_version=version,
                       answers=passing, completed_at=utcnow(), passed=True),
            Assessment(outlet_id=outlets[1].id, version=2, checklist_version=version,
                       answers=failing)])
        db.session.commit()
        return {"first": outlets[0].id, "second": outlets[1].id}


def test_a_large_providers_outlets_come_a_page_at_a_time_with_filters(app, client, make_party):
    provider = make_party("provider")
    ids = _many_outlets(app, provider.organization_id)
    login(client, provider.email)

    first = client.get("/outlets/mine", headers=EN).get_data(as_text=True)
    assert first.count('<tr data-status=') == 50 and "Page 1 of 2" in first
    assert "All (55)" in first and "Draft (40)" in first and "Listed (15)" in first
    assert "Suspended (" not in first  # no outlet in that status, no tab
    # The gap report of each row: the latest complete assessment counts, not a newer draft.
    row = re.search(rf'outlets/{ids["first"]}/manage.*?</tr>', first, re.S).group(0)
    assert "Not compliant" in row and "<strong>Working environment</strong>: 7<br>" in row
    row = re.search(rf'outlets/{ids["second"]}/manage.*?</tr>', first, re.S).group(0)
    assert ">Compliant<" in row
    second = client.get("/outlets/mine?page=2", headers=EN).get_data(as_text=True)
    assert second.count('<tr data-status=') == 5 and "Page 2 of 2" in second

    listed = client.get("/outlets/mine?status=listed", headers=EN).get_data(as_text=True)
    assert listed.count('<tr data-status="listed"') == 15 and "<tr data-status=\"draft\"" not in listed
    assert "15 outlets" in listed and "Page 1 of" not in listed
    in_shenzhen = client.get("/outlets/mine?place=440300", headers=EN).get_data(as_text=True)
    assert "40 outlets" in in_shenzhen and "广州" not in in_shenzhen.split('data-testid="outlets"')[1]
    # The status tabs keep the other filters, and say how many there are in all.
    assert 'href="/outlets/mine?status=draft&amp;place=440300"' in in_shenzhen
    words = client.get("/outlets/mine?q=广州+天河", headers=EN).get_data(as_text=True)
    assert "1 outlet" in words and "广州网点07天河" in words
    none = client.get("/outlets/mine?q=上海", headers=EN).get_data(as_text=True)
    assert 'data-testid="no-match"' in none and "All (55)" in none


def test_a_bad_filter_on_my_outlets_is_named_and_the_rest_still_shown(app, client, make_party):
    provider = make_party("provider")
    _many_outlets(app, provider.organization_id)
    login(client, provider.email)
    response = client.get("/outlets/mine?status=archived&place=440100", headers=EN)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-field="status"' in html and "must be one of" in html
    assert "15 outlets" in html  # the valid city filter still applies
    response = client.get("/outlets/mine?place=440305", headers=EN)  # a district
    assert response.status_code == 400
    assert 'data-field="place"' in response.get_data(as_text=True)


def test_the_api_lists_a_providers_outlets_a_page_at_a_time(app, client, make_party):
    provider = make_party("provider")
    _many_outlets(app, provider.organization_id)
    path = f"/api/v1/organizations/{provider.organization_id}/outlets"
    page = client.get(path, query_string={"per_page": 20, "page": 3}, headers=provider.headers).json
    assert page["total"] == 55 and len(page["items"]) == 15 and page["page"] == 3
    assert page["by_status"] == {"draft": 40, "listed": 15}
    names = [o["name"] for o in client.get(path, query_string={"status": "listed", "q": "天河"},
                                           headers=provider.headers).json["items"]]
    assert names == ["广州网点07天河"]
    assert client.get(path, query_string={"place": "440000"},
                      headers=provider.headers).json["total"] == 55
    for params, field in (({"status": "archived"}, "status"), ({"place": "4403"}, "place"),
                          ({"place": "440305"}, "place"), ({"per_page": 500}, "per_page")):
        refused = client.get(path, query_string=params, headers={**provider.headers, **EN})
        assert refused.status_code in (400, 422) and field in refused.json["error"]["fields"], params


def test_the_certification_page_lists_a_providers_listed_outlets_a_page_at_a_time_and_finds_one(
        app, client, make_party, monkeypatch):
    from app.web import certification as pages

    monkeypatch.setattr(pages, "OUTLETS_PER_PAGE", 10)
    provider = make_party("provider")
    _many_outlets(app, provider.organization_id)
    login(client, provider.email)

    def rows(html: str) -> list[str]:
        table = html.split('data-testid="outlets-to-certify"', 1)[1].split("</table>", 1)[0]
        return re.findall(r"<td>(\S+网点\d\d\S*)<br>", table)

    first = client.get("/certification", headers=EN).get_data(as_text=True)
    assert "15 listed outlets" in first
    assert rows(first) == [f"广州网点{n:02d}" + ("天河" if n == 7 else "") for n in range(10)]
    assert "/certification?page=2" in first  # the drafts in Shenzhen are not offered
    second = client.get("/certification?page=2", headers=EN).get_data(as_text=True)
    assert len(rows(second)) == 5
    found = client.get("/certification?q=天河", headers=EN).get_data(as_text=True)
    assert rows(found) == ["广州网点07天河"] and "1 listed outlet" in found
    nothing = client.get("/certification?q=北京", headers=EN).get_data(as_text=True)
    assert rows(nothing) == [] and "No listed outlet matches these filters." in nothing
