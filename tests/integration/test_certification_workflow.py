"""The certification workflow through the API: schemes, accreditation, conflict of interest,
the application from submission to decision, scoping, and the overdue flag."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from app.extensions import db
from app.models import AuditEvent, CertificationApplication, Notification
from app.models.types import utcnow
from services.certifiers import china_today

EN = {"Accept-Language": "en"}
APPS = "/api/v1/certification-applications"


# --- set-up helpers -------------------------------------------------------------------------

def outlet_body(**overrides) -> dict:
    body = {"name": "南山回收服务网点", "address": "广东省深圳市南山区科技园南区10号",
            "type": "collection", "storage_area_m2": 20, "max_stored_weight_t": 4,
            "annual_capacity_t": 300, "chemistries": ["LFP"], "safety_classes": ["A"],
            "establishment": "self_built"}
    body.update(overrides)
    return body


def listed_outlet(client, party, **overrides) -> dict:
    created = client.post(f"/api/v1/organizations/{party.organization_id}/outlets",
                          json=outlet_body(**overrides), headers=party.headers)
    assert created.status_code == 201, created.json
    outlet = created.json
    answers = {str(n): {"result": "pass"} for n in range(1, 25)}
    assert client.put(f"/api/v1/outlets/{outlet['id']}/assessment",
                      json={"answers": answers, "complete": True},
                      headers=party.headers).status_code == 200
    listed = client.post(f"/api/v1/outlets/{outlet['id']}/status", json={"status": "listed"},
                         headers=party.headers)
    assert listed.status_code == 200, listed.json
    return outlet


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def scheme(app):
    """The shipped default scheme (the test database is emptied after every test)."""
    from services import reference_data

    with app.app_context():
        reference_data.load_certification_schemes()
        db.session.commit()
        from app.models import CertificationScheme

        return db.session.query(CertificationScheme).one().id


def accredit(client, certifier, operator, *, verify=True):
    recorded = client.put(f"/api/v1/organizations/{certifier.organization_id}/accreditation",
                          json={"number": "CNAS C123-P", "accrediting_body": "CNAS",
                                "valid_until": (china_today() + timedelta(days=400)).isoformat()},
                          headers=certifier.headers)
    assert recorded.status_code == 200, recorded.json
    assert recorded.json["status"] == "pending"
    if verify:
        verified = client.post(
            f"/api/v1/organizations/{certifier.organization_id}/accreditation/verification",
            json={"status": "verified"}, headers=operator.headers)
        assert verified.status_code == 200, verified.json
        assert verified.json["status"] == "verified"


@pytest.fixture
def provider(make_party):
    return make_party("provider")


@pytest.fixture
def certifier(client, make_party, operator):
    party = make_party("certifier")
    accredit(client, party, operator)
    return party


def apply(client, provider, outlet, scheme, certifier, **extra):
    return client.post(APPS, json={"outlet_id": outlet["id"], "scheme_id": scheme,
                                   "certifier_id": certifier.organization_id, **extra},
                       headers={**provider.headers, **EN})


def submitted(client, provider, scheme, certifier) -> dict:
    response = apply(client, provider, listed_outlet(client, provider), scheme, certifier)
    assert response.status_code == 201, response.json
    return response.json


def audit_scheduled(client, provider, scheme, certifier) -> dict:
    application = submitted(client, provider, scheme, certifier)
    base = f"{APPS}/{application['id']}"
    assert client.post(f"{base}/accept", headers=certifier.headers).status_code == 200
    scheduled = client.post(f"{base}/audit", json={"audit_date": china_today().isoformat(),
                                                   "auditor_id": certifier.user_id},
                            headers=certifier.headers)
    assert scheduled.status_code == 200, scheduled.json
    return scheduled.json


def notifications_for(app, organization_id, event) -> int:
    with app.app_context():
        return db.session.query(Notification).filter_by(
            organization_id=organization_id, event=event).count()


# --- the whole workflow ---------------------------------------------------------------------

def test_application_to_certification(app, client, provider, certifier, scheme):
    outlet = listed_outlet(client, provider)
    response = apply(client, provider, outlet, scheme, certifier)
    assert response.status_code == 201, response.json
    application = response.json
    assert application["status"] == "submitted" and application["waiting_on"] == "certifier"
    assert application["your_side"] == "provider" and "withdraw" in application["your_actions"]
    assert notifications_for(app, certifier.organization_id, "application.received") == 1
    base = f"{APPS}/{application['id']}"

    # The provider cannot take the certifier's steps.
    assert client.post(f"{base}/accept", headers=provider.headers).status_code == 403

    accepted = client.post(f"{base}/accept", headers=certifier.headers)
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    assert accepted.json["your_actions"] == ["schedule_audit"]
    today = china_today()
    scheduled = client.post(f"{base}/audit", json={"audit_date": today.isoformat(),
                                                   "auditor_id": certifier.user_id},
                            headers=certifier.headers)
    assert scheduled.json["status"] == "audit_scheduled"
    assert scheduled.json["auditor_id"] == certifier.user_id
    assert notifications_for(app, provider.organization_id, "audit.scheduled") == 1

    photo = client.post(f"{base}/evidence", data={"file": (io.BytesIO(jpeg()), "no-sprinkler.jpg"),
                                                  "checklist_item": "16"},
                        headers=certifier.headers, content_type="multipart/form-data")
    assert photo.status_code == 201, photo.json
    findings = [{"item_number": n, "grade": "conforms"} for n in range(1, 25) if n not in (12, 16)]
    assert client.put(f"{base}/findings", json={"findings": findings},
                      headers=certifier.headers).status_code == 200
    # Completing needs every audited item.
    incomplete = client.post(f"{base}/audit/complete", headers={**certifier.headers, **EN})
    assert incomplete.status_code == 422
    assert set(incomplete.json["error"]["fields"]["findings"]) == {"12", "16"}
    # A nonconformity needs a note.
    bare = client.put(f"{base}/findings/12", json={"grade": "minor"}, headers=certifier.headers)
    assert bare.status_code == 422 and "note" in bare.json["error"]["fields"]["findings"]["12"]
    client.put(f"{base}/findings/12", json={"grade": "minor", "note": "brine tank too small"},
               headers=certifier.headers)
    client.put(f"{base}/findings/16", json={"grade": "major", "note": "no sprinkler",
                                            "evidence_id": photo.json["id"]},
               headers=certifier.headers)
    audited = client.post(f"{base}/audit/complete", headers=certifier.headers)
    assert audited.status_code == 200 and audited.json["status"] == "audited"
    assert audited.json["waiting_on"] == "provider"
    assert notifications_for(app, provider.organization_id, "nonconformity.raised") == 1

    # Deciding while a major nonconformity is open is refused.
    early = client.post(f"{base}/decision", json={"decision": "certify"},
                        headers={**certifier.headers, **EN})
    assert early.status_code == 409
    assert set(early.json["error"]["fields"]["findings"]) == {"12", "16"}

    # A major nonconformity is answered with evidence.
    no_proof = client.post(f"{base}/findings/16/response",
                           json={"corrective_action": "sprinklers installed"},
                           headers=provider.headers)
    assert no_proof.status_code == 422 and "evidence_id" in no_proof.json["error"]["fields"]
    proof = client.post(f"{base}/evidence", data={"file": (io.BytesIO(jpeg()), "sprinkler.jpg")},
                        headers=provider.headers, content_type="multipart/form-data")
    assert proof.status_code == 201, proof.json
    answered = client.post(f"{base}/findings/16/response",
                           json={"corrective_action": "sprinklers installed",
                                 "evidence_id": proof.json["id"]}, headers=provider.headers)
    assert answered.status_code == 200, answered.json
    client.post(f"{base}/findings/12/response", json={"corrective_action": "bigger tank ordered"},
                headers=provider.headers)
    assert notifications_for(app, certifier.organization_id, "nonconformity.answered") == 2

    # The certifier sees the provider's evidence; it reopens one answer, closes the other.
    file = client.get(f"{base}/evidence/{proof.json['id']}/file", headers=certifier.headers)
    assert file.status_code == 200 and file.data[:3] == b"\xff\xd8\xff"
    reopen = client.post(f"{base}/findings/12/verification", json={"outcome": "reopen"},
                         headers=certifier.headers)
    assert reopen.status_code == 422  # must say what is missing
    client.post(f"{base}/findings/12/verification",
                json={"outcome": "reopen", "note": "show the installed tank"}, headers=certifier.headers)
    client.post(f"{base}/findings/16/verification", json={"outcome": "close"},
                headers=certifier.headers)
    assert client.post(f"{base}/decision", json={"decision": "certify"},
                       headers=certifier.headers).status_code == 409
    client.post(f"{base}/findings/12/response", json={"corrective_action": "tank installed",
                                                      "evidence_id": proof.json["id"]},
                headers=provider.headers)
    client.post(f"{base}/findings/12/verification", json={"outcome": "close"},
                headers=certifier.headers)

    decided = client.post(f"{base}/decision", json={"decision": "certify"}, headers=certifier.headers)
    assert decided.status_code == 200, decided.json
    assert decided.json["status"] == "certified" and decided.json["your_actions"] == []
    assert notifications_for(app, provider.organization_id, "application.certified") == 1

    with app.app_context():
        actions = [e.action for e in db.session.query(AuditEvent).filter_by(
            subject_type="certification_application", subject_id=str(application["id"]))
            .order_by(AuditEvent.id)]
    assert actions[:4] == ["certification.apply", "certification.accept",
                           "certification.schedule_audit", "certification.record_findings"]
    assert actions[-1] == "certification.certify"
    assert {"certification.complete_audit", "certification.respond",
            "certification.verify_finding"} <= set(actions)
    history = client.get(f"{base}/history", headers=provider.headers).json
    assert [e["action"] for e in history] == actions


def test_certifying_an_initial_application_issues_the_certificate(
        app, client, provider, certifier, scheme):
    pytest.importorskip("services.certificates")
    application = audit_scheduled(client, provider, scheme, certifier)
    base = f"{APPS}/{application['id']}"
    client.put(f"{base}/findings", json={"findings": [
        {"item_number": n, "grade": "conforms"} for n in range(1, 25)]}, headers=certifier.headers)
    audited = client.post(f"{base}/audit/complete", headers=certifier.headers)
    assert audited.json["waiting_on"] == "certifier"
    assert notifications_for(app, provider.organization_id, "audit.completed") == 1
    decided = client.post(f"{base}/decision", json={"decision": "certify"}, headers=certifier.headers)
    assert decided.status_code == 200, decided.json
    assert decided.json["certificate_id"] is not None
    mine = client.get(f"/api/v1/organizations/{provider.organization_id}/outlets",
                      headers=provider.headers).json["items"]
    assert mine[0]["certified"] is True


def test_refusing_needs_reasons(client, provider, certifier, scheme):
    application = audit_scheduled(client, provider, scheme, certifier)
    base = f"{APPS}/{application['id']}"
    assert client.post(f"{base}/decision", json={"decision": "refuse"},
                       headers=certifier.headers).status_code == 422
    refused = client.post(f"{base}/decision", json={"decision": "refuse",
                                                    "reason": "site closed on the audit day"},
                          headers=certifier.headers)
    assert refused.status_code == 200 and refused.json["status"] == "refused"
    assert refused.json["decision_reason"] == "site closed on the audit day"
    # Nothing moves a closed application.
    assert client.post(f"{base}/withdraw", json={}, headers=provider.headers).status_code == 409


def test_declining_needs_a_reason(app, client, provider, certifier, scheme):
    application = submitted(client, provider, scheme, certifier)
    base = f"{APPS}/{application['id']}"
    missing = client.post(f"{base}/decline", json={"reason": "  "}, headers=certifier.headers)
    assert missing.status_code == 422 and "reason" in missing.json["error"]["fields"]
    declined = client.post(f"{base}/decline", json={"reason": "fully booked until next year"},
                           headers=certifier.headers)
    assert declined.status_code == 200 and declined.json["status"] == "declined"
    assert notifications_for(app, provider.organization_id, "application.declined") == 1
    # A declined application no longer blocks a new one for the outlet.
    again = apply(client, provider, {"id": application["outlet_id"]}, scheme, certifier)
    assert again.status_code == 201


def test_one_open_application_per_outlet(client, provider, certifier, scheme):
    application = submitted(client, provider, scheme, certifier)
    again = apply(client, provider, {"id": application["outlet_id"]}, scheme, certifier)
    assert again.status_code == 409


def test_only_listed_outlets_under_an_active_scheme_covering_their_type(
        client, provider, certifier, scheme, operator):
    draft = client.post(f"/api/v1/organizations/{provider.organization_id}/outlets",
                        json=outlet_body(), headers=provider.headers).json
    assert apply(client, provider, draft, scheme, certifier).status_code == 409

    outlet = listed_outlet(client, provider)
    storage_only = client.post("/api/v1/certification-schemes", json={
        "code": "OPC-STORAGE", "version": "1", "name_zh": "集中贮存型网点认证",
        "name_en": "Storage outlet certification", "issuing_body": "OutletPool",
        "outlet_types": ["centralized_storage"], "checklist_items": [1, 2, 3]},
        headers=operator.headers)
    assert storage_only.status_code == 201, storage_only.json
    wrong_type = apply(client, provider, outlet, storage_only.json["id"], certifier)
    assert wrong_type.status_code == 422 and "scheme_id" in wrong_type.json["error"]["fields"]

    client.patch(f"/api/v1/certification-schemes/{scheme}", json={"active": False},
                 headers=operator.headers)
    inactive = apply(client, provider, outlet, scheme, certifier)
    assert inactive.status_code == 422 and "scheme_id" in inactive.json["error"]["fields"]
    unknown = apply(client, provider, outlet, 999999, certifier)
    assert unknown.status_code == 422


# --- conflict of interest, standing, scoping ------------------------------------------------

def test_conflict_of_interest_is_refused_at_apply_and_at_accept(
        app, client, provider, certifier, scheme, make_party):
    application = submitted(client, provider, scheme, certifier)
    with app.app_context():
        from app.models import Organization

        provider_code = db.session.get(Organization, provider.organization_id).credit_code
    declared = client.post(f"/api/v1/organizations/{certifier.organization_id}/relationships",
                           json={"credit_code": provider_code, "nature": "minority shareholder"},
                           headers=certifier.headers)
    assert declared.status_code == 201, declared.json
    assert declared.json["related_organization_id"] == provider.organization_id

    # The application made before the declaration can no longer be accepted...
    accept = client.post(f"{APPS}/{application['id']}/accept", headers={**certifier.headers, **EN})
    assert accept.status_code == 409
    assert "certifier_id" in accept.json["error"]["fields"]
    # ...but it can be declined.
    assert client.post(f"{APPS}/{application['id']}/decline",
                       json={"reason": "conflict of interest"},
                       headers=certifier.headers).status_code == 200

    # A new application choosing that certifier is refused, naming the field.
    refused = apply(client, provider, {"id": application["outlet_id"]}, scheme, certifier)
    assert refused.status_code == 422
    assert "conflict of interest" in refused.json["error"]["fields"]["certifier_id"][0]
    listed = client.get(f"/api/v1/organizations/{certifier.organization_id}/relationships",
                        headers=certifier.headers).json
    assert [r["nature"] for r in listed] == ["minority shareholder"]


def test_another_certifier_and_another_provider_get_404(
        client, make_party, operator, provider, certifier, scheme):
    application = submitted(client, provider, scheme, certifier)
    rival_certifier = make_party("certifier")
    accredit(client, rival_certifier, operator)
    rival_provider = make_party("provider")
    base = f"{APPS}/{application['id']}"
    for party in (rival_certifier, rival_provider):
        assert client.get(base, headers=party.headers).status_code == 404
        assert client.get(f"{base}/history", headers=party.headers).status_code == 404
        assert client.post(f"{base}/accept", headers=party.headers).status_code == 404
        assert client.post(f"{base}/decline", json={"reason": "x"},
                           headers=party.headers).status_code == 404
        assert client.post(f"{base}/withdraw", json={}, headers=party.headers).status_code == 404
        assert client.get(APPS, headers=party.headers).json == []
    assert [a["id"] for a in client.get(APPS, headers=certifier.headers).json] == [application["id"]]


def test_unaccredited_certifiers_cannot_be_chosen_or_act(
        app, client, make_party, operator, provider, certifier, scheme):
    outlet = listed_outlet(client, provider)
    pending = make_party("certifier")
    accredit(client, pending, operator, verify=False)
    refused = apply(client, provider, outlet, scheme, pending)
    assert refused.status_code == 422 and "certifier_id" in refused.json["error"]["fields"]
    assert pending.organization_id not in {
        c["id"] for c in client.get("/api/v1/certifiers").json}
    assert certifier.organization_id in {c["id"] for c in client.get("/api/v1/certifiers").json}

    # An accreditation that lapses after the application stops the certifier acting.
    application = apply(client, provider, outlet, scheme, certifier).json
    with app.app_context():
        from app.models import Accreditation

        accreditation = db.session.query(Accreditation).filter_by(
            organization_id=certifier.organization_id).one()
        accreditation.valid_until = china_today() - timedelta(days=2)
        db.session.commit()
    lapsed = client.post(f"{APPS}/{application['id']}/accept", headers={**certifier.headers, **EN})
    assert lapsed.status_code == 403 and "expired" in lapsed.json["error"]["message"]


def test_the_auditor_is_a_member_of_the_certifier(client, provider, certifier, scheme):
    application = submitted(client, provider, scheme, certifier)
    base = f"{APPS}/{application['id']}"
    client.post(f"{base}/accept", headers=certifier.headers)
    outsider = client.post(f"{base}/audit", json={"audit_date": china_today().isoformat(),
                                                  "auditor_id": provider.user_id},
                           headers=certifier.headers)
    assert outsider.status_code == 422 and "auditor_id" in outsider.json["error"]["fields"]
    past = client.post(f"{base}/audit", json={
        "audit_date": (china_today() - timedelta(days=3)).isoformat(),
        "auditor_id": certifier.user_id}, headers=certifier.headers)
    assert past.status_code == 422 and "audit_date" in past.json["error"]["fields"]
    future = client.post(f"{base}/audit", json={
        "audit_date": (china_today() + timedelta(days=7)).isoformat(),
        "auditor_id": certifier.user_id}, headers=certifier.headers)
    assert future.status_code == 200
    # Findings wait for the audit day.
    early = client.put(f"{base}/findings/1", json={"grade": "conforms"}, headers=certifier.headers)
    assert early.status_code == 409


# --- deadlines ------------------------------------------------------------------------------

def test_overdue_applications_are_flagged_once_and_the_next_step_clears_the_flag(
        app, client, provider, certifier, scheme):
    from services import tick

    application = submitted(client, provider, scheme, certifier)
    with app.app_context():
        submitted_at = db.session.get(CertificationApplication, application["id"]).last_action_at
    within = submitted_at + timedelta(days=9)
    late = submitted_at + timedelta(days=11)

    def run(now):
        with app.app_context():
            result = tick.run(now)["certification.overdue_applications"]
            db.session.commit()
            flagged = db.session.get(CertificationApplication, application["id"]).flagged_at
        return result, flagged

    assert run(within) == (0, None)
    first = run(late)
    second = run(late)
    assert first[0] == 1 and first[1] is not None
    assert second == (0, first[1])  # the same flag, nobody told twice
    for party in (provider, certifier):
        assert notifications_for(app, party.organization_id, "application.overdue") == 1
    assert client.get(f"{APPS}/{application['id']}",
                      headers=provider.headers).json["flagged_at"] is not None

    accepted = client.post(f"{APPS}/{application['id']}/accept", headers=certifier.headers)
    assert accepted.json["flagged_at"] is None


def test_the_response_deadline_is_configurable(app, client, provider, certifier, scheme):
    from services import tick

    application = submitted(client, provider, scheme, certifier)
    app.config["CERTIFICATION_RESPONSE_DAYS"] = 2
    try:
        with app.app_context():
            count = tick.run(utcnow() + timedelta(days=3))["certification.overdue_applications"]
            db.session.commit()
        shown = client.get(f"{APPS}/{application['id']}", headers=provider.headers).json
    finally:
        app.config.pop("CERTIFICATION_RESPONSE_DAYS")
    assert count == 1
    assert shown["flagged_at"] is not None


# --- schemes and accreditation --------------------------------------------------------------

def test_operators_manage_schemes_with_validation(client, operator, provider, scheme):
    listed = client.get("/api/v1/certification-schemes").json  # public
    default = next(s for s in listed if s["id"] == scheme)
    assert default["checklist_items"] == list(range(1, 25))
    assert sorted(default["outlet_types"]) == ["centralized_storage", "collection"]
    assert (default["validity_months"], default["surveillance_interval_months"]) == (36, 12)

    bad = client.post("/api/v1/certification-schemes", json={
        "code": "X", "version": "1", "name_zh": "x", "name_en": "x", "issuing_body": "x",
        "outlet_types": ["depot"], "checklist_items": [0, 25], "validity_months": 0},
        headers={**operator.headers, **EN})
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) == {"outlet_types", "checklist_items",
                                                "validity_months"}
    body = {"code": "OPC-OUTLET", "version": "2026.1", "name_zh": "x", "name_en": "x",
            "issuing_body": "x", "outlet_types": ["collection"], "checklist_items": [1]}
    duplicate = client.post("/api/v1/certification-schemes", json=body, headers=operator.headers)
    assert duplicate.status_code == 422 and "version" in duplicate.json["error"]["fields"]
    assert client.post("/api/v1/certification-schemes", json={**body, "version": "2027.1"},
                       headers=provider.headers).status_code == 403
    created = client.post("/api/v1/certification-schemes", json={**body, "version": "2027.1"},
                          headers=operator.headers)
    assert created.status_code == 201 and created.json["validity_months"] == 36
    edited = client.patch(f"/api/v1/certification-schemes/{created.json['id']}",
                          json={"checklist_items": [1, 2, 24], "name_en": "Renamed"},
                          headers=operator.headers)
    assert edited.status_code == 200 and edited.json["checklist_items"] == [1, 2, 24]


def test_a_scheme_in_use_keeps_what_it_audits(client, operator, provider, certifier, scheme):
    submitted(client, provider, scheme, certifier)
    frozen = client.patch(f"/api/v1/certification-schemes/{scheme}",
                          json={"checklist_items": [1, 2]}, headers=operator.headers)
    assert frozen.status_code == 409
    renamed = client.patch(f"/api/v1/certification-schemes/{scheme}",
                           json={"issuing_body": "新委员会"}, headers=operator.headers)
    assert renamed.status_code == 200


def test_accreditation_is_recorded_by_the_certifier_and_verified_by_an_operator(
        app, client, make_party, operator):
    party = make_party("certifier")
    path = f"/api/v1/organizations/{party.organization_id}/accreditation"
    assert client.get(path, headers=party.headers).status_code == 404
    past = client.put(path, json={"number": "C1", "accrediting_body": "CNAS",
                                  "valid_until": "2020-01-01"}, headers=party.headers)
    assert past.status_code == 422 and "valid_until" in past.json["error"]["fields"]
    accredit(client, party, operator, verify=False)
    queue = client.get("/api/v1/accreditations", headers=operator.headers).json
    assert [q["organization_id"] for q in queue] == [party.organization_id]
    assert client.get("/api/v1/accreditations", headers=party.headers).status_code == 403
    verification = f"{path}/verification"
    assert client.post(verification, json={"status": "verified"},
                       headers=party.headers).status_code == 403
    assert client.post(verification, json={"status": "rejected"},
                       headers=operator.headers).status_code == 422
    rejected = client.post(verification, json={"status": "rejected", "reason": "number unknown"},
                           headers=operator.headers)
    assert rejected.json["status"] == "rejected"
    assert notifications_for(app, party.organization_id, "accreditation.rejected") == 1

    provider = make_party("provider")
    not_a_certifier = client.put(
        f"/api/v1/organizations/{provider.organization_id}/accreditation",
        json={"number": "C1", "accrediting_body": "CNAS", "valid_until": "2099-01-01"},
        headers=provider.headers)
    assert not_a_certifier.status_code == 403


def test_withdrawal_tells_the_certifier(app, client, provider, certifier, scheme):
    application = submitted(client, provider, scheme, certifier)
    withdrawn = client.post(f"{APPS}/{application['id']}/withdraw", json={"reason": "sold"},
                            headers=provider.headers)
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"
    assert notifications_for(app, certifier.organization_id, "application.withdrawn") == 1
    assert client.post(f"{APPS}/{application['id']}/withdraw", json={},
                       headers=certifier.headers).status_code == 409


# --- pages ----------------------------------------------------------------------------------

def test_the_workflow_through_the_pages(app, client, make_party, operator, scheme):
    from tests.integration.conftest import PASSWORD, form_post, login

    provider = make_party("provider")
    certifier = make_party("certifier")
    outlet = listed_outlet(client, provider)

    # The certifier records its accreditation; the operator verifies it from the queue.
    login(client, certifier.email)
    page = client.get("/certifier/accreditation")
    assert page.status_code == 200
    saved = form_post(client, "/certifier/accreditation", {
        "number": "CNAS C001-P", "accrediting_body": "CNAS",
        "valid_until": (china_today() + timedelta(days=300)).isoformat()})
    assert saved.status_code == 302
    client = app.test_client()
    login(client, operator.email, PASSWORD)
    queue = client.get("/operator/accreditations")
    assert queue.status_code == 200 and "CNAS C001-P" in queue.get_data(as_text=True)
    decided = form_post(client, f"/operator/accreditations/{certifier.organization_id}",
                        {"status": "verified"}, page_path="/operator/accreditations")
    assert decided.status_code == 302
    assert client.get("/operator/schemes").status_code == 200
    assert client.get(f"/operator/schemes/{scheme}").status_code == 200
    invalid = form_post(client, "/operator/schemes/new", {
        "code": "OPC-X", "version": "1", "name_zh": "测试", "name_en": "Test",
        "issuing_body": "OutletPool", "validity_months": "12",
        "surveillance_interval_months": "24", "active": "1", "checklist_items": ["1", "2"]})
    assert invalid.status_code == 422  # no outlet type, surveillance longer than validity
    created = form_post(client, "/operator/schemes/new", {
        "code": "OPC-X", "version": "1", "name_zh": "测试", "name_en": "Test",
        "issuing_body": "OutletPool", "validity_months": "12", "outlet_types": ["collection"],
        "surveillance_interval_months": "6", "active": "0", "checklist_items": ["1", "2"]})
    assert created.status_code == 302
    assert "OPC-X" in client.get("/operator/schemes").get_data(as_text=True)

    # The provider applies from its certification page.
    provider_client = app.test_client()
    login(provider_client, provider.email)
    listing = provider_client.get("/certification").get_data(as_text=True)
    assert f"/certification/apply/{outlet['id']}" in listing
    form_page = provider_client.get(f"/certification/apply/{outlet['id']}").get_data(as_text=True)
    assert "OPC-X" not in form_page  # inactive schemes are not offered
    applied = form_post(provider_client, f"/certification/apply/{outlet['id']}", {
        "purpose": "initial", "scheme_id": str(scheme),
        "certifier_id": str(certifier.organization_id)})
    assert applied.status_code == 302, applied.get_data(as_text=True)
    detail_path = applied.headers["Location"]
    application_id = int(detail_path.rsplit("/", 1)[1])

    # The certifier must give a reason to decline; it accepts instead and schedules.
    certifier_client = app.test_client()
    login(certifier_client, certifier.email)
    assert "data-testid=\"accept\"" in certifier_client.get(detail_path).get_data(as_text=True)
    no_reason = form_post(certifier_client, f"{detail_path}/decline", {"reason-reason": ""},
                          page_path=detail_path)
    assert no_reason.status_code == 422
    assert "field-error" in no_reason.get_data(as_text=True)
    assert form_post(certifier_client, f"{detail_path}/accept", {},
                     page_path=detail_path).status_code == 302
    assert form_post(certifier_client, f"{detail_path}/audit", {
        "schedule-audit_date": china_today().isoformat(),
        "schedule-auditor_id": str(certifier.user_id)}, page_path=detail_path).status_code == 302
    audit_page = certifier_client.get(detail_path).get_data(as_text=True)
    assert 'data-testid="audit-sheet"' in audit_page and 'name="grade-24"' in audit_page
    sheet = {f"grade-{n}": "conforms" for n in range(1, 25)}
    sheet["grade-7"] = "minor"
    unexplained = form_post(certifier_client, f"{detail_path}/findings", sheet,
                            page_path=detail_path)
    assert unexplained.status_code == 422 and "row-error" in unexplained.get_data(as_text=True)
    sheet["note-7"] = "classes A and B share a shelf"
    sheet.update({"grade-16": "major", "note-16": "no sprinkler"})
    assert form_post(certifier_client, f"{detail_path}/findings", sheet,
                     page_path=detail_path).status_code == 302
    assert form_post(certifier_client, f"{detail_path}/complete-audit", {},
                     page_path=detail_path).status_code == 302

    # The provider answers on the page; the certifier closes it and certifies.
    page = provider_client.get(detail_path).get_data(as_text=True)
    assert 'data-testid="respond-7"' in page
    assert form_post(provider_client, f"{detail_path}/findings/7/response",
                     {"r7-corrective_action": "separate shelves installed"},
                     page_path=detail_path).status_code == 302
    unproven = form_post(provider_client, f"{detail_path}/findings/16/response",
                         {"r16-corrective_action": "sprinklers installed"}, page_path=detail_path)
    assert unproven.status_code == 422
    assert 'data-field="r16-file"' in unproven.get_data(as_text=True)
    assert form_post(provider_client, f"{detail_path}/findings/16/response",
                     {"r16-corrective_action": "sprinklers installed",
                      "r16-file": (io.BytesIO(jpeg()), "sprinklers.jpg")},
                     page_path=detail_path).status_code == 302
    for item in (7, 16):
        assert form_post(certifier_client, f"{detail_path}/findings/{item}/verification",
                         {"verify-outcome": "close"}, page_path=detail_path).status_code == 302
    assert form_post(certifier_client, f"{detail_path}/certify", {"reason-reason": ""},
                     page_path=detail_path).status_code == 302
    with app.app_context():
        from app.models import ApplicationStatus

        assert db.session.get(CertificationApplication, application_id).status is \
            ApplicationStatus.CERTIFIED
    final = provider_client.get(detail_path).get_data(as_text=True)
    assert 'data-testid="history"' in final

    # Another certifier's staff get a 404 page.
    rival = make_party("certifier")
    rival_client = app.test_client()
    login(rival_client, rival.email)
    assert rival_client.get(detail_path).status_code == 404
    assert rival_client.get("/certifier/relationships").status_code == 200
    assert provider_client.get("/certifier/accreditation").status_code == 403
    assert provider_client.get("/operator/schemes").status_code == 403


# --- concurrency (PostgreSQL; SQLite serializes writers itself) -----------------------------

@pytest.fixture
def postgres_only(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("concurrency is exercised on PostgreSQL")


def test_parallel_steps_on_one_application_take_effect_once(
        app, client, provider, certifier, scheme, postgres_only):
    from concurrent.futures import ThreadPoolExecutor

    outlet = listed_outlet(client, provider)

    def apply_once(_):
        return apply(app.test_client(), provider, outlet, scheme, certifier).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(apply_once, range(6)))
    assert statuses == [201] + [409] * 5

    application = client.get(APPS, headers=provider.headers).json[0]
    base = f"{APPS}/{application['id']}"

    def accept_once(_):
        return app.test_client().post(f"{base}/accept", headers=certifier.headers).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(accept_once, range(4)))
    assert statuses == [200] + [409] * 3
    with app.app_context():
        from services import audit

        accepts = db.session.query(AuditEvent).filter_by(action="certification.accept").count()
        assert accepts == 1 and audit.verify_chain().ok


def test_bad_input_gets_the_error_shape_never_a_500(client, provider, certifier, scheme):
    application = audit_scheduled(client, provider, scheme, certifier)
    base = f"{APPS}/{application['id']}"
    cases = [
        (provider, "post", APPS, {"outlet_id": "seven"}),
        (provider, "post", APPS, ["not", "an", "object"]),
        (provider, "post", APPS, {"outlet_id": 999999, "scheme_id": scheme,
                                  "certifier_id": certifier.organization_id}),
        (provider, "post", APPS, {"outlet_id": application["outlet_id"], "purpose": "renewal"}),
        (certifier, "put", f"{base}/findings", {"findings": [1, 2]}),
        (certifier, "put", f"{base}/findings", {"findings": [{"item_number": 99, "grade": "ok"}]}),
        (certifier, "put", f"{base}/findings/3", {"grade": "conforms", "evidence_id": 424242}),
        (certifier, "post", f"{base}/audit", {"audit_date": "next tuesday", "auditor_id": 1}),
        (certifier, "post", f"{base}/decision", {"decision": "maybe"}),
        (certifier, "post", f"{base}/findings/3/verification", {"outcome": "close"}),
        (provider, "post", f"{base}/findings/3/response", {"corrective_action": "x"}),
        (certifier, "post", f"{base}/evidence", {}),
        (certifier, "patch", "/api/v1/certification-schemes/1", {"unknown": True}),
        (certifier, "post", f"/api/v1/organizations/{certifier.organization_id}/relationships",
         {"credit_code": "123", "nature": "x"}),
        (certifier, "get", f"{APPS}?status=lost", None),
    ]
    for party, method, path, body in cases:
        response = getattr(client, method)(path, json=body, headers=party.headers)
        assert 400 <= response.status_code < 500, (path, body, response.status_code)
        assert set(response.json["error"]) == {"code", "message", "fields"}, (path, body)
