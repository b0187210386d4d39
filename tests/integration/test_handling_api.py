"""The handling records API: record, list, dispute, correct, withdraw; errors name the
field; a retried create with the same Idempotency-Key records once; another organization
gets 404 for the allocation and the records."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.conftest import PASSWORD
from tests.integration.test_contracting_flow import actor_for


def live_allocation(app, shared_outlet, make_party):
    """A signed allocation that started 40 days ago (the API works at the real clock)."""
    from app.extensions import db
    from app.models import Agreement, Allocation, Organization
    from app.models.types import utcnow
    from services import agreements, capacity_requests
    from services.certifiers import china_today

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    then = utcnow() - timedelta(days=40)
    with app.app_context():
        request = capacity_requests.create(
            actor_for(maker), db.session.get(Organization, maker.organization_id),
            {"outlet_id": outlet_id, "tonnes_per_year": 30, "start_date": china_today(then).isoformat(),
             "term_months": 12, "form": "shared_use"}, now=then)
        capacity_requests.accept(actor_for(provider), request.id, now=then)
        db.session.commit()
        allocation = db.session.execute(db.select(Allocation)).scalar_one()
        for party in (maker, provider):
            version = agreements.pending_version(db.session.get(Agreement, allocation.agreement_id))
            agreements.sign(actor_for(party), allocation.agreement_id, password=PASSWORD,
                            document_sha256=version.document_sha256, now=then)
            db.session.commit()
        return allocation.id, provider, maker, china_today()


def test_handling_records_api(app, shared_outlet, make_party):
    allocation_id, provider, maker, today = live_allocation(app, shared_outlet, make_party)
    client = app.test_client()
    url = f"/api/v1/allocations/{allocation_id}/handling-records"
    day = (today - timedelta(days=3)).isoformat()

    created = client.post(url, headers=provider.headers, json={
        "handled_on": day, "tonnes": 12.345, "battery_codes": "CATL-1\nCATL-2", "notes": "two packs"})
    assert created.status_code == 201, created.get_json()
    record = created.get_json()
    assert (record["tonnes"], record["kilograms"], record["fee_fen_per_t"]) == ("12.345", 12_345, 30_000)
    assert record["state"] == "open_to_dispute" and record["recorded_by_id"] == provider.user_id
    assert record["recorded_by"] and record["invoice_id"] is None

    bad = client.post(url, headers=provider.headers, json={
        "handled_on": (today + timedelta(days=1)).isoformat(), "tonnes": "0.0001"})
    assert bad.status_code == 422 and set(bad.get_json()["error"]["fields"]) == {"handled_on", "tonnes"}
    missing = client.post(url, headers=provider.headers, json={"tonnes": "abc", "extra": 1})
    assert missing.status_code == 422
    assert {"handled_on", "tonnes", "extra"} <= set(missing.get_json()["error"]["fields"])
    assert client.post(url, headers=maker.headers, json={"handled_on": day, "tonnes": 1}).status_code == 403

    # A retried create with the same key records once and replays the answer.
    key = {**provider.headers, "Idempotency-Key": "rec-2"}
    first = client.post(url, headers=key, json={"handled_on": day, "tonnes": "2"})
    again = client.post(url, headers=key, json={"handled_on": day, "tonnes": "2"})
    assert first.status_code == again.status_code == 201 and again.get_json() == first.get_json()
    listed = client.get(url, headers=maker.headers).get_json()
    assert listed["total"] == 2 and listed["dispute_days"] == 14 and listed["fee_fen_per_t"] == 30_000
    second_id = first.get_json()["id"]

    # Another organization sees nothing and changes nothing: 404 throughout.
    for stranger in (make_party("manufacturer"), make_party("provider")):
        assert client.get(url, headers=stranger.headers).status_code == 404
        assert client.post(url, headers=stranger.headers, json={"handled_on": day, "tonnes": 1}
                           ).status_code == 404
        for path, body in (("", None), ("/dispute", {"reason": "x"}), ("/withdrawal", {}),
                           ("/correction", {"tonnes": 1})):
            target = f"/api/v1/handling-records/{record['id']}{path}"
            answer = (client.get(target, headers=stranger.headers) if body is None
                      else client.post(target, headers=stranger.headers, json=body))
            assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found", (
                path, answer.get_json())

    # The maker disputes (a reason is required); the provider corrects it.
    dispute = f"/api/v1/handling-records/{record['id']}/dispute"
    no_reason = client.post(dispute, headers=maker.headers, json={"reason": "  "})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["error"]["fields"]
    assert client.post(dispute, headers=provider.headers, json={"reason": "x"}).status_code == 403
    disputed = client.post(dispute, headers=maker.headers, json={"reason": "It was 12.3 t"})
    assert disputed.status_code == 200 and disputed.get_json()["state"] == "disputed"
    assert client.post(dispute, headers=maker.headers, json={"reason": "again"}).status_code == 409
    corrected = client.post(f"/api/v1/handling-records/{record['id']}/correction",
                            headers=provider.headers, json={"tonnes": "12.3"})
    assert corrected.status_code == 201
    new = corrected.get_json()
    assert (new["supersedes_id"], new["tonnes"], new["handled_on"], new["notes"]) == (
        record["id"], "12.3", day, "two packs")
    old = client.get(f"/api/v1/handling-records/{record['id']}", headers=maker.headers).get_json()
    assert old["state"] == "superseded"

    # The provider withdraws the second; it cannot be withdrawn twice.
    withdrawal = f"/api/v1/handling-records/{second_id}/withdrawal"
    gone = client.post(withdrawal, headers=provider.headers, json={"reason": "entered twice"})
    assert gone.status_code == 200 and gone.get_json()["status"] == "withdrawn"
    assert client.post(withdrawal, headers=provider.headers, json={}).status_code == 409
    states = sorted(r["state"] for r in client.get(url, headers=provider.headers).get_json()["items"])
    assert states == ["open_to_dispute", "superseded", "withdrawn"]
