"""Demo contracts (services.demo_contracts): what a visitor finds after `flask seed-demo`, made
once, and always an outlet left where the demo maker can request capacity itself."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Agreement,
    AuditEvent,
    CapacityRequest,
    Notification,
    Organization,
    Outlet,
    OutletStatus,
    Signature,
)
from services import (
    accounts,
    agreements,
    capacity_requests,
    demo,
    demo_contracts,
    demo_pool,
    demo_sales,
    obligations,
)
from services.audit import Actor

TODAY = date(2026, 12, 1)


def _seed_pool(outlets: int) -> None:
    demo_pool.seed(demo_pool.DEFAULT_SEED, outlets)
    demo.certify_demo_outlets()
    demo_sales.seed_sales(demo_pool.DEFAULT_SEED)
    db.session.commit()


def _counts() -> tuple[int, ...]:
    return tuple(db.session.execute(select(func.count()).select_from(m)).scalar_one()
                 for m in (CapacityRequest, Agreement, Signature, Notification, AuditEvent))


def _org(email: str) -> Organization:
    return accounts.find_user_by_email(email).memberships[0].organization


def _free_outlets(maker: Organization, provider: Organization) -> list[Outlet]:
    """The provider's listed outlets with free offered capacity where the maker has nothing."""
    taken = set(db.session.execute(select(CapacityRequest.outlet_id).where(
        CapacityRequest.manufacturer_id == maker.id)).scalars())
    return [o for o in db.session.execute(select(Outlet).where(
        Outlet.provider_id == provider.id, Outlet.status == OutletStatus.LISTED)).unique().scalars()
        if o.offer is not None and (o.available_capacity_t or 0) > 0 and o.id not in taken]


def test_every_stage_is_seeded_once_through_the_services(app):
    with app.app_context():
        _seed_pool(6000)  # four listed outlets of the demo provider
        report = demo_contracts.seed_contracts(TODAY)
        db.session.commit()
        assert not report.skipped
        maker, provider = _org(demo_contracts.MAKER_EMAIL), _org(demo_contracts.PROVIDER_EMAIL)
        maker_user = accounts.find_user_by_email(demo_contracts.MAKER_EMAIL)
        as_maker = Actor(user=maker_user)

        by_number = {a.number: a for a in agreements.list_for(as_maker)[0]}
        assert set(by_number) == {report.active, report.awaiting_signature}

        active = by_number[report.active]
        assert active.status.value == "active" and active.provider_id == provider.id
        (allocation,) = active.allocations
        assert allocation.status.value == "active"
        assert {s.organization_id for s in agreements.version_in_force(active).signatures} == {
            maker.id, provider.id}
        assert agreements.problems_of(agreements.version_in_force(active)) == []
        # The maker's obligations page counts the city as covered today.
        cities = {c.division: c for c in obligations.compute_for(maker, TODAY).cities}
        city = cities[active.outlet.city_code]
        assert city.status == "covered"
        assert [m["agreement"] for m in city.met_by] == [report.active]

        waiting = by_number[report.awaiting_signature]
        version = agreements.pending_version(waiting)
        assert waiting.status.value == "pending_signatures"
        assert [s.organization_id for s in version.signatures] == [provider.id]
        assert agreements.signing_party(as_maker, version) == maker.id
        assert version.sign_by.date() > TODAY  # still signable on the day it was seeded
        request = waiting.allocations[0].request
        assert request.status.value == "accepted"
        # The request page shows the negotiation: requested, countered, counter accepted.
        assert [e.action for e in capacity_requests.history(request)] == [
            "capacity_request.request", "capacity_request.counter",
            "capacity_request.accept_counter"]

        open_request = db.session.get(CapacityRequest, report.open_request)
        assert open_request.status.value == "requested"
        assert open_request.provider_id == provider.id
        assert open_request.respond_by.date() > TODAY
        assert open_request.outlet_id not in {active.outlet_id, waiting.outlet_id}

        free = _free_outlets(maker, provider)
        assert free and {o.id for o in free} == set(report.free_outlets)
        told = {n.organization_id for n in db.session.execute(select(Notification).where(
            Notification.event.in_(["request.received", "agreement.to_sign"]))).scalars()}
        assert {maker.id, provider.id} <= told

        before = _counts()
        assert demo_contracts.seed_contracts(TODAY).skipped
        assert demo_contracts.seed_contracts(TODAY + timedelta(days=3)).skipped
        db.session.commit()
        assert _counts() == before


def test_a_small_pool_gets_the_active_agreement_and_keeps_an_outlet_free(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--outlets", "500"])
    assert first.exit_code == 0, first.output
    assert "demo contracts: active OP-AG-" in first.output
    with app.app_context():
        before = _counts()
        maker, provider = _org(demo_contracts.MAKER_EMAIL), _org(demo_contracts.PROVIDER_EMAIL)
        statuses = db.session.execute(select(Agreement.status)).scalars().all()
        assert [s.value for s in statuses] == ["active"]
        free = _free_outlets(maker, provider)
        assert len(free) == 1
        assert free[0].available_capacity_t == free[0].offer.capacity_t_per_year
    again = runner.invoke(args=["seed-demo", "--outlets", "500"])
    assert again.exit_code == 0, again.output
    assert "demo contracts already present" in again.output
    with app.app_context():
        assert _counts() == before
