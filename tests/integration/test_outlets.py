"""Providers' outlets end to end through the API: rules, lifecycle, assessment, evidence, offers."""

import io

import pytest
from PIL import Image

from app.extensions import db
from app.models import AuditEvent

EN = {"Accept-Language": "en"}


def outlet_body(**overrides):
    body = {"name": "南山回收服务网点", "address": "广东省深圳市南山区科技园南区10号",
            "type": "collection", "storage_area_m2": 20, "max_stored_weight_t": 4,
            "annual_capacity_t": 300, "chemistries": ["LFP", "NCM"], "safety_classes": ["A", "B"],
            "establishment": "self_built", "contact_name": "王工", "contact_phone": "13800000000"}
    body.update(overrides)
    return body


def all_answers(result="pass", **exceptions):
    answers = {str(n): {"result": result} for n in range(1, 25)}
    for number, value in exceptions.items():
        answers[number.lstrip("_")] = {"result": value, "note": "see photo"}
    return answers


@pytest.fixture
def provider(make_party):
    return make_party("provider")


def create_outlet(client, party, **overrides):
    response = client.post(f"/api/v1/organizations/{party.organization_id}/outlets",
                           json=outlet_body(**overrides), headers={**party.headers, **EN})
    assert response.status_code == 201, response.json
    return response.json


def test_create_resolves_the_address_and_starts_as_draft(client, provider):
    outlet = create_outlet(client, provider)
    assert (outlet["province"], outlet["city"], outlet["district"]) == ("440000", "440300", "440305")
    assert outlet["status"] == "draft" and not outlet["compliant"]
    assert 22 < outlet["lat"] < 23


@pytest.mark.parametrize(("overrides", "field"), [
    ({"storage_area_m2": 8}, "storage_area_m2"),
    ({"max_stored_weight_t": 6}, "max_stored_weight_t"),
    ({"type": "centralized_storage", "max_stored_weight_t": 20}, "max_stored_weight_t"),
])
def test_type_limits_of_the_rule_set_in_force_are_enforced_citing_the_rule(
        app, client, provider, overrides, field):
    from app.models.types import utcnow
    from services import rule_sets

    with app.app_context():
        in_force = rule_sets.in_force(utcnow().date())
        block = in_force.parameters["outlet_types"][overrides.get("type", "collection")]
    response = client.post(f"/api/v1/organizations/{provider.organization_id}/outlets",
                           json=outlet_body(**overrides), headers={**provider.headers, **EN})
    assert response.status_code == 422
    message = " ".join(response.json["error"]["fields"][field])
    assert block["rule_ref"] in message and block["source"] in message


def test_unverified_providers_prepare_drafts_but_cannot_list(client, make_party):
    pending = make_party("provider", verified=False)
    outlet = create_outlet(client, pending)
    client.put(f"/api/v1/outlets/{outlet['id']}/assessment",
               json={"answers": all_answers(), "complete": True}, headers=pending.headers)
    response = client.post(f"/api/v1/outlets/{outlet['id']}/status", json={"status": "listed"},
                           headers=pending.headers)
    assert response.status_code == 403
    assert "verified" in response.json["error"]["message"]


def test_manufacturers_cannot_create_outlets(client, make_party):
    maker = make_party("manufacturer")
    response = client.post(f"/api/v1/organizations/{maker.organization_id}/outlets",
                           json=outlet_body(), headers=maker.headers)
    assert response.status_code == 403


def test_listing_requires_a_passing_assessment(client, provider):
    outlet = create_outlet(client, provider)
    status = f"/api/v1/outlets/{outlet['id']}/status"
    assert client.post(status, json={"status": "listed"}, headers=provider.headers).status_code == 409

    failing = client.put(f"/api/v1/outlets/{outlet['id']}/assessment",
                         json={"answers": all_answers(_12="fail", _16="fail"), "complete": True},
                         headers=provider.headers)
    assert failing.status_code == 200 and failing.json["passed"] is False
    gaps = client.get(f"/api/v1/outlets/{outlet['id']}/gaps", headers=provider.headers).json
    failing_items = {i["number"] for c in gaps["categories"] for i in c["failing"]}
    assert failing_items == {12, 16}
    facilities = next(c for c in gaps["categories"] if c["code"] == "facilities")
    assert facilities["share_passed"] == pytest.approx(8 / 10)
    assert client.post(status, json={"status": "listed"}, headers=provider.headers).status_code == 409

    fixed = client.put(f"/api/v1/outlets/{outlet['id']}/assessment",
                       json={"answers": all_answers(_14="na"), "complete": True},
                       headers=provider.headers)
    assert fixed.json["passed"] is True and fixed.json["version"] == 2
    listed = client.post(status, json={"status": "listed"}, headers=provider.headers)
    assert listed.status_code == 200 and listed.json["status"] == "listed"


def test_completing_needs_every_item_answered(client, provider):
    outlet = create_outlet(client, provider)
    answers = all_answers()
    del answers["7"]
    response = client.put(f"/api/v1/outlets/{outlet['id']}/assessment",
                          json={"answers": answers, "complete": True}, headers=provider.headers)
    assert response.status_code == 422
    assert list(response.json["error"]["fields"]["answers"]) == ["7"]


def listed_outlet(client, party):
    outlet = create_outlet(client, party)
    client.put(f"/api/v1/outlets/{outlet['id']}/assessment",
               json={"answers": all_answers(), "complete": True}, headers=party.headers)
    client.post(f"/api/v1/outlets/{outlet['id']}/status", json={"status": "listed"},
                headers=party.headers)
    return outlet


def test_a_failing_new_assessment_suspends_a_listed_outlet(app, client, provider):
    outlet = listed_outlet(client, provider)
    client.put(f"/api/v1/outlets/{outlet['id']}/assessment",
               json={"answers": {"3": {"result": "fail"}}, "complete": True}, headers=provider.headers)
    mine = client.get(f"/api/v1/organizations/{provider.organization_id}/outlets",
                      headers=provider.headers).json["items"]
    assert mine[0]["status"] == "suspended" and not mine[0]["compliant"]
    with app.app_context():
        actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert actions[-3:] == ["assessment.completed", "outlet.suspended"][-3:] or \
        actions[-2:] == ["assessment.completed", "outlet.suspended"]


def test_lifecycle_transitions_are_checked_and_audited(app, client, provider, operator):
    outlet = listed_outlet(client, provider)
    status = f"/api/v1/outlets/{outlet['id']}/status"
    assert client.post(status, json={"status": "draft"}, headers=provider.headers).status_code == 409
    # an operator moderating must say why
    assert client.post(status, json={"status": "suspended"},
                       headers=operator.headers).status_code == 422
    assert client.post(status, json={"status": "suspended", "reason": "complaint"},
                       headers=operator.headers).json["status"] == "suspended"
    assert client.post(status, json={"status": "delisted"},
                       headers=provider.headers).json["status"] == "delisted"
    with app.app_context():
        actions = [e.action for e in db.session.query(AuditEvent)
                   .filter(AuditEvent.subject_type == "outlet").order_by(AuditEvent.id)]
    assert actions[-3:] == ["outlet.listed", "outlet.suspended", "outlet.delisted"]


def test_another_provider_cannot_touch_the_outlet(client, provider, make_party):
    outlet = create_outlet(client, provider)
    rival = make_party("provider")
    for method, path, body in [
        ("patch", f"/api/v1/outlets/{outlet['id']}", {"name": "mine now"}),
        ("post", f"/api/v1/outlets/{outlet['id']}/status", {"status": "listed"}),
        ("put", f"/api/v1/outlets/{outlet['id']}/assessment", {"answers": {}}),
        ("get", f"/api/v1/outlets/{outlet['id']}/evidence", None),
        ("get", f"/api/v1/outlets/{outlet['id']}/gaps", None),
    ]:
        response = getattr(client, method)(path, json=body, headers=rival.headers)
        assert response.status_code == 404, (method, path)


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (8, 8), "red")
    exif = Image.Exif()
    exif[0x8769] = {36867: "2026:05:01 10:30:00"}
    exif[0x8825] = {1: "N", 2: (22.0, 32.0, 24.0), 3: "E", 4: (113.0, 56.0, 24.0)}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_evidence_keeps_capture_time_and_place_and_is_private(client, provider, make_party):
    outlet = create_outlet(client, provider)
    upload = client.post(f"/api/v1/outlets/{outlet['id']}/evidence",
                         data={"file": (io.BytesIO(jpeg_with_exif()), "door.jpg"),
                               "checklist_item": "1"},
                         headers=provider.headers, content_type="multipart/form-data")
    assert upload.status_code == 201, upload.json
    item = upload.json
    assert item["checklist_item"] == 1 and item["content_type"] == "image/jpeg"
    assert item["captured_at"].startswith("2026-05-01T02:30:00")  # 10:30 in China is 02:30 UTC
    assert item["captured_lat"] == pytest.approx(22.54) and item["captured_lon"] == pytest.approx(113.94)
    file = client.get(f"/api/v1/evidence/{item['id']}/file", headers=provider.headers)
    assert file.status_code == 200 and file.data[:3] == b"\xff\xd8\xff"
    rival = make_party("provider")
    assert client.get(f"/api/v1/evidence/{item['id']}/file", headers=rival.headers).status_code == 404
    assert client.get(f"/api/v1/evidence/{item['id']}/file").status_code == 401


@pytest.mark.parametrize(("content", "name"), [
    (b"MZ\x90\x00 not really a pdf", "report.pdf"),  # checked by content, not by name
    (b"", "empty.jpg"),
])
def test_evidence_type_is_checked_by_content(client, provider, content, name):
    outlet = create_outlet(client, provider)
    response = client.post(f"/api/v1/outlets/{outlet['id']}/evidence",
                           data={"file": (io.BytesIO(content), name)},
                           headers=provider.headers, content_type="multipart/form-data")
    assert response.status_code == 422 and "file" in response.json["error"]["fields"]


def test_evidence_size_limit(app, client, provider):
    outlet = create_outlet(client, provider)
    app.config["EVIDENCE_MAX_BYTES"] = 1000
    try:
        response = client.post(f"/api/v1/outlets/{outlet['id']}/evidence",
                               data={"file": (io.BytesIO(b"%PDF-1.4" + b"0" * 2000), "big.pdf")},
                               headers=provider.headers, content_type="multipart/form-data")
    finally:
        app.config["EVIDENCE_MAX_BYTES"] = 10 * 1024 * 1024
    assert response.status_code == 422


def test_a_listed_outlet_offers_capacity(client, provider):
    outlet = listed_outlet(client, provider)
    offer = {"capacity_t_per_year": 120, "annual_fee_fen": 3_600_000, "handling_fee_fen_per_t": 15_000,
             "min_term_months": 12, "available_from": "2026-12-01"}
    response = client.put(f"/api/v1/outlets/{outlet['id']}/offer", json=offer, headers=provider.headers)
    assert response.status_code == 200, response.json
    too_much = client.put(f"/api/v1/outlets/{outlet['id']}/offer",
                          json={**offer, "capacity_t_per_year": 301}, headers=provider.headers)
    assert too_much.status_code == 422 and "capacity_t_per_year" in too_much.json["error"]["fields"]
    fractional = client.put(f"/api/v1/outlets/{outlet['id']}/offer",
                            json={**offer, "annual_fee_fen": 10.5}, headers=provider.headers)
    assert fractional.status_code == 422
    mine = client.get(f"/api/v1/organizations/{provider.organization_id}/outlets",
                      headers=provider.headers).json["items"][0]
    assert mine["offer"]["annual_fee_fen"] == 3_600_000


def test_a_draft_outlet_cannot_offer_capacity(client, provider):
    outlet = create_outlet(client, provider)
    response = client.put(f"/api/v1/outlets/{outlet['id']}/offer", json={
        "capacity_t_per_year": 1, "annual_fee_fen": 1, "handling_fee_fen_per_t": 1,
        "min_term_months": 1, "available_from": "2026-12-01"}, headers=provider.headers)
    assert response.status_code == 409
