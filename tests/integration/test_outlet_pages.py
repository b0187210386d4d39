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
