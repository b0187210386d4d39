"""Contracting through the services: request -> counter -> accept -> sign -> active, the
amendment when a second maker joins, lapse, expiry, notice, and what obligations count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.integration.conftest import PASSWORD

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in China
START = "2026-12-01"


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def actor_for(party):
    from app.extensions import db
    from app.models import User
    from services.audit import Actor

    return Actor(user=db.session.get(User, party.user_id), ip="203.0.113.9")


def request_capacity(maker, outlet_id, tonnes=40, **extra):
    from app.extensions import db
    from app.models import Organization
    from services import capacity_requests

    request = capacity_requests.create(
        actor_for(maker), db.session.get(Organization, maker.organization_id),
        {"outlet_id": outlet_id, "tonnes_per_year": tonnes, "start_date": START,
         "term_months": 12, "form": "co_built", **extra}, now=NOW)
    db.session.commit()
    return request.id


def sign_all(agreement_id, *parties, now=NOW):
    from app.extensions import db
    from app.models import Agreement
    from services import agreements

    for party in parties:
        version = agreements.pending_version(db.session.get(Agreement, agreement_id))
        agreements.sign(actor_for(party), agreement_id, password=PASSWORD,
                        document_sha256=version.document_sha256, now=now)
        db.session.commit()


def test_request_counter_accept_sign_and_count_as_coverage(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Agreement, Notification, Outlet
    from services import agreements, capacity_requests

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request_id = request_capacity(maker, outlet_id)
    capacity_requests.counter(actor_for(provider), request_id,
                              {"tonnes_per_year": 30, "annual_fee_fen": 1_500_000}, now=NOW)
    db.session.commit()
    request = capacity_requests.accept_counter(actor_for(maker), request_id, now=NOW)
    db.session.commit()
    assert request.status.value == "accepted"
    assert db.session.get(Outlet, outlet_id).available_capacity_t == 70

    agreement = db.session.execute(db.select(Agreement)).scalar_one()
    assert agreement.number.startswith("OP-AG-2026-")
    assert agreement.status.value == "pending_signatures"
    version = agreements.pending_version(agreement)
    assert version.document["allocations"][0]["tonnes_per_year"] == 30
    assert version.document["allocations"][0]["annual_fee_fen"] == 1_500_000

    sign_all(agreement.id, maker, provider)
    db.session.refresh(agreement)
    assert agreement.status.value == "active"
    assert agreement.allocations[0].status.value == "active"
    signature = version.signatures[0]
    assert signature.ip_address == "203.0.113.9" and signature.document_sha256 == version.document_sha256

    covered = agreements.of_manufacturer_on(maker.organization_id, date(2026, 12, 2))
    assert [a.outlet_id for a in covered] == [outlet_id]
    assert agreements.of_manufacturer_on(maker.organization_id, date(2027, 12, 1)) == []
    events = {n.event for n in db.session.execute(db.select(Notification)).scalars()}
    assert {"request.received", "request.countered", "request.counter_accepted",
            "agreement.to_sign", "agreement.active"} <= events


def test_second_maker_amends_to_a_new_version_all_sign(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Agreement
    from services import agreements, capacity_requests

    outlet_id, provider = shared_outlet
    first, second = make_party("manufacturer"), make_party("manufacturer")
    capacity_requests.accept(actor_for(provider), request_capacity(first, outlet_id), now=NOW)
    db.session.commit()
    agreement_id = db.session.execute(db.select(Agreement.id)).scalar_one()
    sign_all(agreement_id, first, provider)

    capacity_requests.accept(actor_for(provider), request_capacity(second, outlet_id, 50), now=NOW)
    db.session.commit()
    agreement = db.session.get(Agreement, agreement_id)
    assert [v.version for v in agreement.versions] == [1, 2]
    v2 = agreements.pending_version(agreement)
    assert len(v2.document["parties"]) == 3 and v2.reason == "join"
    assert agreement.status.value == "active"  # version 1 stays in force meanwhile

    stale = agreement.versions[0].document_sha256
    from services.errors import Conflict

    with pytest.raises(Conflict):
        agreements.sign(actor_for(first), agreement_id, password=PASSWORD,
                        document_sha256=stale, now=NOW)
    db.session.rollback()
    sign_all(agreement_id, first, second, provider)
    agreement = db.session.get(Agreement, agreement_id)
    db.session.refresh(agreement)
    assert [v.status.value for v in agreement.versions] == ["superseded", "in_force"]
    assert {a.status.value for a in agreement.allocations} == {"active"}
    assert agreements.version_in_force(agreement).document["allocated_t_per_year"] == 90


def test_unsigned_version_lapses_and_releases_capacity(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Agreement, Outlet
    from services import capacity_requests, tick

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    capacity_requests.accept(actor_for(provider), request_capacity(maker, outlet_id, 60), now=NOW)
    db.session.commit()
    assert db.session.get(Outlet, outlet_id).available_capacity_t == 40
    assert tick.run(NOW + timedelta(days=13))["agreements.lapse_unsigned"] == 0
    ran = tick.run(NOW + timedelta(days=15))
    db.session.commit()
    assert ran["agreements.lapse_unsigned"] == 1
    agreement = db.session.execute(db.select(Agreement)).scalar_one()
    assert agreement.status.value == "lapsed"
    assert agreement.allocations[0].status.value == "lapsed"
    assert db.session.get(Outlet, outlet_id).available_capacity_t == 100
    assert tick.run(NOW + timedelta(days=15))["agreements.lapse_unsigned"] == 0


def test_unanswered_request_expires_by_tick(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import CapacityRequest
    from services import tick

    outlet_id, _provider = shared_outlet
    request_id = request_capacity(make_party("manufacturer"), outlet_id)
    assert tick.run(NOW + timedelta(days=6))["capacity_requests.expire"] == 0
    assert tick.run(NOW + timedelta(days=8))["capacity_requests.expire"] == 1
    db.session.commit()
    assert db.session.get(CapacityRequest, request_id).status.value == "expired"


def test_capacity_refused_when_it_ran_out(ctx, shared_outlet, make_party):
    from app.extensions import db
    from services import capacity_requests
    from services.errors import Conflict

    outlet_id, provider = shared_outlet
    a, b = make_party("manufacturer"), make_party("manufacturer")
    first, second = request_capacity(a, outlet_id, 70), request_capacity(b, outlet_id, 40)
    capacity_requests.accept(actor_for(provider), first, now=NOW)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        capacity_requests.accept(actor_for(provider), second, now=NOW)
    assert "tonnes_per_year" in refused.value.fields
    db.session.rollback()


def test_notice_ends_the_allocation_and_expiry_stops_coverage(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Agreement, Outlet
    from services import agreements, capacity_requests, tick

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    capacity_requests.accept(actor_for(provider), request_capacity(maker, outlet_id), now=NOW)
    db.session.commit()
    agreement = db.session.execute(db.select(Agreement)).scalar_one()
    sign_all(agreement.id, maker, provider)
    allocation = agreement.allocations[0]
    later = NOW + timedelta(days=30)
    agreements.give_notice(actor_for(maker), allocation.id, "network change", now=later)
    db.session.commit()
    assert allocation.ends_on == date(2027, 3, 31)  # 90 days after 31 Dec 2026
    assert tick.run(datetime(2027, 3, 30, 12, tzinfo=UTC))["agreements.end_due"] == 0
    assert tick.run(datetime(2027, 3, 31, 12, tzinfo=UTC))["agreements.end_due"] == 1
    db.session.commit()
    db.session.refresh(allocation)
    assert allocation.status.value == "terminated"
    assert db.session.get(Agreement, agreement.id).status.value == "ended"
    assert db.session.get(Outlet, outlet_id).available_capacity_t == 100
    assert agreements.of_manufacturer_on(maker.organization_id, date(2027, 3, 30))
    assert not agreements.of_manufacturer_on(maker.organization_id, date(2027, 3, 31))
