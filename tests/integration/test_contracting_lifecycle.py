"""Contracting's edges through the services and a real database: refused moves change
nothing, operators cancel and terminate with a reason, who may sign and what a signature
records, a document altered in the database, amendments replaced and lapsed, renewal, the
end of a term in the obligations report, an outlet suspended, and an offer lowered or raised.

The happy path (request -> counter -> accept -> sign) is in test_contracting_flow.py."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.integration.conftest import PASSWORD
from tests.integration.test_contracting_flow import NOW, actor_for, request_capacity, sign_all

END = date(2027, 12, 1)  # a 12-month allocation starting on 1 Dec 2026 ends here


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def _db():
    from app.extensions import db

    return db


def _org(party):
    from app.models import Organization

    return _db().session.get(Organization, party.organization_id)


def accept(provider, request_id, now=NOW):
    from services import capacity_requests

    capacity_requests.accept(actor_for(provider), request_id, now=now)
    _db().session.commit()


def the_agreement():
    from app.models import Agreement

    return _db().session.execute(_db().select(Agreement)).scalar_one()


def active_allocation(outlet_id, provider, maker, tonnes=40):
    """An allocation signed by both sides at NOW (1 Dec 2026 to 1 Dec 2027); its agreement id."""
    accept(provider, request_capacity(maker, outlet_id, tonnes))
    agreement_id = the_agreement().id
    sign_all(agreement_id, maker, provider)
    return agreement_id


def available(outlet_id):
    from app.models import Outlet

    outlet = _db().session.get(Outlet, outlet_id)
    _db().session.refresh(outlet)
    return outlet.available_capacity_t


def notified(event):
    """{organization id: number of people told} for one notification event."""
    from app.models import Notification

    counts: dict[int, int] = {}
    for row in _db().session.execute(_db().select(Notification).where(Notification.event == event)
                                     ).scalars():
        counts[row.organization_id] = counts.get(row.organization_id, 0) + 1
    return counts


# --- refused moves ------------------------------------------------------------------------

def _snapshot(request_id, outlet_id):
    """What a refused move must leave as it was, read in the same session (so anything the
    service changed before refusing would show)."""
    from sqlalchemy import func, select

    from app.models import Agreement, Allocation, AuditEvent, CapacityRequest, Notification, Outlet

    session = _db().session
    request = session.get(CapacityRequest, request_id)
    counts = {model.__name__: session.execute(select(func.count()).select_from(model)).scalar_one()
              for model in (AuditEvent, Notification, Allocation, Agreement, CapacityRequest)}
    return {"status": request.status, "tonnes": request.tonnes_per_year,
            "fee": request.annual_fee_fen, "respond_by": request.respond_by,
            "last_action_at": request.last_action_at, "reason": request.reason,
            "available": session.get(Outlet, outlet_id).available_capacity_t, **counts}


def _decline(p):
    from services import capacity_requests

    capacity_requests.decline(actor_for(p["provider"]), p["request"], "fully booked", now=NOW)


def _counter(p):
    from services import capacity_requests

    capacity_requests.counter(actor_for(p["provider"]), p["request"], {"tonnes_per_year": 30},
                              now=NOW)


def _accept(p):
    from services import capacity_requests

    capacity_requests.accept(actor_for(p["provider"]), p["request"], now=NOW)


def _withdraw(p):
    from services import capacity_requests

    capacity_requests.withdraw(actor_for(p["maker"]), p["request"], now=NOW)


def _expire(p):
    from services import tick

    tick.run(NOW + timedelta(days=8))


def _as(side, action, *args):
    """An attempt: `side` of the parties calls capacity_requests.`action`."""
    def attempt(p):
        from services import capacity_requests

        return getattr(capacity_requests, action)(actor_for(p[side]), p["request"], *args, now=NOW)

    return attempt


REFUSED = {
    "accept a declined request": (_decline, _as("provider", "accept"), "Conflict"),
    "counter a countered request": (_counter, _as("provider", "counter", {"tonnes_per_year": 20}),
                                    "Conflict"),
    "provider accepts its own counter": (_counter, _as("provider", "accept"), "Conflict"),
    "accept a counter never made": (None, _as("maker", "accept_counter"), "Conflict"),
    "withdraw an accepted request": (_accept, _as("maker", "withdraw"), "Conflict"),
    "decline an expired request": (_expire, _as("provider", "decline", "too late"), "Conflict"),
    "cancel a withdrawn request": (_withdraw, _as("operator", "cancel", "spam"), "Conflict"),
    "manufacturer accepts": (None, _as("maker", "accept"), "PermissionDenied"),
    "manufacturer declines": (None, _as("maker", "decline", "no"), "PermissionDenied"),
    "manufacturer counters": (None, _as("maker", "counter", {"tonnes_per_year": 20}),
                              "PermissionDenied"),
    "provider withdraws": (None, _as("provider", "withdraw"), "PermissionDenied"),
    "provider cancels": (None, _as("provider", "cancel", "spam"), "PermissionDenied"),
    "provider accepts the counter meant for the manufacturer":
        (_counter, _as("provider", "accept_counter"), "PermissionDenied"),
    "another manufacturer accepts": (None, _as("stranger", "accept"), "NotFound"),
    "another manufacturer withdraws": (None, _as("stranger", "withdraw"), "NotFound"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_move_changes_nothing(ctx, shared_outlet, make_party, operator, case):
    from services import errors

    before_move, attempt, error = REFUSED[case]
    outlet_id, provider = shared_outlet
    parties = {"provider": provider, "maker": make_party("manufacturer"),
               "stranger": make_party("manufacturer"), "operator": operator}
    parties["request"] = request_capacity(parties["maker"], outlet_id)
    if before_move:
        before_move(parties)
        _db().session.commit()
    before = _snapshot(parties["request"], outlet_id)
    with pytest.raises(getattr(errors, error)):
        attempt(parties)
    assert _snapshot(parties["request"], outlet_id) == before
    _db().session.rollback()


def test_only_a_verified_manufacturer_requests_capacity(ctx, shared_outlet, make_party):
    from sqlalchemy import func, select

    from app.models import AuditEvent, CapacityRequest, Notification
    from services import capacity_requests
    from services.errors import PermissionDenied

    outlet_id, provider = shared_outlet
    unverified = make_party("manufacturer", verified=False)
    terms = {"outlet_id": outlet_id, "tonnes_per_year": 10, "start_date": "2026-12-01",
             "term_months": 12}

    def counts():
        return [_db().session.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (CapacityRequest, AuditEvent, Notification)]

    before = counts()
    with pytest.raises(PermissionDenied):
        capacity_requests.create(actor_for(provider), _org(provider), terms, now=NOW)
    with pytest.raises(PermissionDenied):  # the provider naming a manufacturer it is not
        capacity_requests.create(actor_for(provider), _org(unverified), terms, now=NOW)
    with pytest.raises(PermissionDenied) as refused:
        capacity_requests.create(actor_for(unverified), _org(unverified), terms, now=NOW)
    assert "verified" in refused.value.message
    assert counts() == before
    _db().session.rollback()


# --- operator cancellation and expiry -----------------------------------------------------

def test_an_operator_cancels_an_open_request_with_a_reason(ctx, shared_outlet, make_party, operator):
    from app.models import AuditEvent, CapacityRequest
    from services import capacity_requests
    from services.errors import ValidationFailed

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request_id = request_capacity(maker, outlet_id)
    for blank in (None, "", "   "):
        with pytest.raises(ValidationFailed) as refused:
            capacity_requests.cancel(actor_for(operator), request_id, blank, now=NOW)
        assert "reason" in refused.value.fields
        _db().session.rollback()
    assert _db().session.get(CapacityRequest, request_id).status.value == "requested"

    capacity_requests.cancel(actor_for(operator), request_id, "duplicate of an offline contract",
                             now=NOW + timedelta(hours=1))
    _db().session.commit()
    request = _db().session.get(CapacityRequest, request_id)
    assert request.status.value == "cancelled"
    assert request.reason == "duplicate of an offline contract"
    assert notified("request.cancelled") == {maker.organization_id: 1, provider.organization_id: 1}
    event = _db().session.execute(_db().select(AuditEvent).where(
        AuditEvent.action == "capacity_request.cancel")).scalar_one()
    assert event.actor_user_id == operator.user_id
    assert event.data["reason"] == "duplicate of an offline contract"
    assert capacity_requests.actions_for(request.status, capacity_requests.Side.MANUFACTURER) == []


def test_a_countered_request_expires_waiting_on_the_manufacturer(ctx, shared_outlet, make_party):
    from app.models import AuditEvent, CapacityRequest, Notification
    from services import capacity_requests, tick

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request_id = request_capacity(maker, outlet_id)
    capacity_requests.counter(actor_for(provider), request_id,
                              {"tonnes_per_year": 25, "start_date": "2026-12-05"},
                              now=NOW + timedelta(days=3))
    _db().session.commit()
    # The counter restarted the clock: the manufacturer has 7 days from it, not from the request.
    assert tick.run(NOW + timedelta(days=9))["capacity_requests.expire"] == 0
    assert tick.run(NOW + timedelta(days=10, minutes=1))["capacity_requests.expire"] == 1
    _db().session.commit()
    assert _db().session.get(CapacityRequest, request_id).status.value == "expired"
    event = _db().session.execute(_db().select(AuditEvent).where(
        AuditEvent.action == "capacity_request.expire")).scalar_one()
    assert event.data["waited_on"] == maker.organization_id
    told = _db().session.execute(_db().select(Notification).where(
        Notification.event == "request.expired")).scalars().all()
    assert {n.organization_id for n in told} == {maker.organization_id, provider.organization_id}
    assert all(n.params["waited_on"] == _org(maker).legal_name for n in told)


# --- signing ------------------------------------------------------------------------------

def _member_of(party, email="clerk@example.com"):
    """A plain member (not owner or admin) of the party's organization."""
    from app.models import User
    from services import accounts
    from services.audit import Actor

    owner = _db().session.get(User, party.user_id)
    issued = accounts.invite(Actor(user=owner), _org(party), email, "member")
    membership = accounts.accept_invitation(issued.token, name="Clerk", password=PASSWORD)
    _db().session.commit()
    return Actor(user=membership.user, ip="198.51.100.4")


def test_who_may_sign_and_what_a_signature_records(ctx, shared_outlet, make_party, operator):
    from app.models import AuditEvent, Signature
    from services import agreements
    from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

    outlet_id, provider = shared_outlet
    maker, outsider = make_party("manufacturer"), make_party("manufacturer")
    accept(provider, request_capacity(maker, outlet_id))
    agreement_id = the_agreement().id
    sha = agreements.pending_version(the_agreement()).document_sha256
    clerk = _member_of(maker)

    def sign(actor, password=PASSWORD, now=NOW):
        return agreements.sign(actor, agreement_id, password=password, document_sha256=sha, now=now)

    with pytest.raises(ValidationFailed) as wrong:
        sign(actor_for(maker), password="not my password")
    assert "password" in wrong.value.fields
    with pytest.raises(ValidationFailed):
        sign(actor_for(maker), password="")
    with pytest.raises(NotFound):  # another maker cannot even see the agreement
        sign(actor_for(outsider))
    with pytest.raises(PermissionDenied):  # operators see every agreement but sign none
        sign(actor_for(operator))
    with pytest.raises(PermissionDenied) as member:
        sign(clerk)
    assert "role" in member.value.message
    _db().session.rollback()
    assert _db().session.execute(_db().select(Signature)).first() is None

    signed_at = NOW + timedelta(hours=3)
    sign(actor_for(maker), now=signed_at)
    _db().session.commit()
    with pytest.raises(Conflict):
        sign(actor_for(maker), now=signed_at + timedelta(minutes=5))
    _db().session.rollback()

    signature = _db().session.execute(_db().select(Signature)).scalar_one()
    assert signature.organization_id == maker.organization_id
    assert signature.user_id == maker.user_id and maker.email in signature.signer_name
    assert signature.signed_at == signed_at
    assert signature.ip_address == "203.0.113.9"
    assert signature.document_sha256 == sha
    assert the_agreement().status.value == "pending_signatures"  # the provider has not signed
    event = _db().session.execute(_db().select(AuditEvent).where(
        AuditEvent.action == "agreement.signed")).scalar_one()
    assert event.ip_address == "203.0.113.9" and event.data["sha256"] == sha


def test_a_document_altered_in_the_database_is_reported_and_cannot_be_signed(
        ctx, shared_outlet, make_party):
    from sqlalchemy import update

    from app.models import AgreementVersion, Signature
    from services import agreement_document, agreements
    from services.errors import Conflict

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    accept(provider, request_capacity(maker, outlet_id))
    agreement_id = the_agreement().id
    sign_all(agreement_id, provider)
    version = agreements.pending_version(the_agreement())
    issued_sha = version.document_sha256
    assert agreements.problems_of(version) == []

    altered = copy.deepcopy(version.document)
    altered["allocations"][0]["annual_fee_fen"] = 1  # someone with database access
    _db().session.execute(update(AgreementVersion).where(AgreementVersion.id == version.id)
                          .values(document=altered))
    _db().session.commit()

    version = agreements.pending_version(the_agreement())
    found = agreements.problems_of(version)
    assert len(found) == 2
    # names both hashes: what the text hashes to now, and what it was issued as
    assert agreement_document.sha256_of(altered) in found[0] and issued_sha in found[0]
    assert _org(provider).legal_name in found[1]  # its signature was made on the issued text
    for sent in (issued_sha, agreement_document.sha256_of(altered)):
        with pytest.raises(Conflict) as refused:
            agreements.sign(actor_for(maker), agreement_id, password=PASSWORD,
                            document_sha256=sent, now=NOW)
        assert "document_sha256" in refused.value.fields
        _db().session.rollback()
    assert len(_db().session.execute(_db().select(Signature)).all()) == 1
    assert the_agreement().status.value == "pending_signatures"


# --- amendments ---------------------------------------------------------------------------

def test_a_third_maker_joining_replaces_the_pending_amendment(ctx, shared_outlet, make_party):
    from services import agreements, capacity_requests

    outlet_id, provider = shared_outlet
    first, second, third = (make_party("manufacturer") for _ in range(3))
    agreement_id = active_allocation(outlet_id, provider, first, 40)
    accept(provider, request_capacity(second, outlet_id, 30))
    sign_all(agreement_id, second)  # the second maker signs version 2 at once
    capacity_requests.accept(actor_for(provider), request_capacity(third, outlet_id, 20),
                             now=NOW + timedelta(hours=1))
    _db().session.commit()

    agreement = the_agreement()
    assert [v.status.value for v in agreement.versions] == ["in_force", "replaced", "pending"]
    v1, v2, v3 = agreement.versions
    assert agreements.pending_version(agreement) is v3 and v3.reason == "join"
    assert parties_of(v3) == ids(provider, first, second, third)
    assert v3.document["allocated_t_per_year"] == 90
    # Earlier versions keep their own text, intact, with the signatures made on it.
    assert parties_of(v2) == ids(provider, first, second)
    assert agreements.get_version(agreement, 2).document["allocated_t_per_year"] == 70
    assert parties_of(v1) == ids(provider, first)
    assert agreements.problems_of(v2) == [] and [s.organization_id for s in v2.signatures] == [
        second.organization_id]
    assert len({v1.document_sha256, v2.document_sha256, v3.document_sha256}) == 3
    # Version 3 is another text: the second maker signs again.
    assert agreements.signing_party(actor_for(second), v3) == second.organization_id

    sign_all(agreement_id, first, second, third, provider)
    agreement = the_agreement()
    _db().session.refresh(agreement)
    assert [v.status.value for v in agreement.versions] == ["superseded", "replaced", "in_force"]
    assert [a.status.value for a in agreement.allocations] == ["active"] * 3
    assert available(outlet_id) == 10


def parties_of(version):
    from services import agreement_document

    return agreement_document.party_ids(version.document)


def ids(*parties):
    return [p.organization_id for p in parties]


def test_a_lapsed_amendment_keeps_version_one_and_releases_only_the_joiner(
        ctx, shared_outlet, make_party):
    from services import agreements, tick

    outlet_id, provider = shared_outlet
    first, joiner = make_party("manufacturer"), make_party("manufacturer")
    agreement_id = active_allocation(outlet_id, provider, first, 40)
    accept(provider, request_capacity(joiner, outlet_id, 50))
    sign_all(agreement_id, first)  # not everyone signs version 2
    assert available(outlet_id) == 10

    assert tick.run(NOW + timedelta(days=15))["agreements.lapse_unsigned"] == 1
    _db().session.commit()
    agreement = the_agreement()
    assert agreement.status.value == "active"
    assert [v.status.value for v in agreement.versions] == ["in_force", "lapsed"]
    assert agreements.version_in_force(agreement).version == 1
    by_maker = {a.manufacturer_id: a.status.value for a in agreement.allocations}
    assert by_maker == {first.organization_id: "active", joiner.organization_id: "lapsed"}
    assert available(outlet_id) == 60
    assert [a.manufacturer_id for a in agreements.of_manufacturer_on(
        first.organization_id, date(2026, 12, 20))] == [first.organization_id]
    assert notified("agreement.lapsed") == {provider.organization_id: 1,
                                            first.organization_id: 1, joiner.organization_id: 1}


# --- renewal and the end of the term --------------------------------------------------------

def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)  # 10:00 in China


def test_renewal_reminder_once_then_a_renewal_moves_the_end(ctx, shared_outlet, make_party):
    from app.models import Allocation
    from services import agreements, tick
    from services.errors import Conflict

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    agreement_id = active_allocation(outlet_id, provider, maker)
    allocation_id = the_agreement().allocations[0].id
    opens = END - timedelta(days=60)  # 2 Oct 2027

    assert tick.run(at(opens - timedelta(days=1)))["agreements.renewal_reminders"] == 0
    assert tick.run(at(opens))["agreements.renewal_reminders"] == 1
    assert tick.run(at(opens) + timedelta(hours=6))["agreements.renewal_reminders"] == 0
    _db().session.commit()
    assert notified("agreement.renewal_due") == {provider.organization_id: 1,
                                                 maker.organization_id: 1}

    with pytest.raises(Conflict) as early:
        agreements.propose_renewal(actor_for(maker), allocation_id, at(opens - timedelta(days=1)))
    assert "60" in early.value.message
    _db().session.rollback()
    version = agreements.propose_renewal(actor_for(provider), allocation_id, at(opens))
    _db().session.commit()
    assert (version.version, version.reason) == (2, "renewal")
    assert version.document["allocations"][0]["end_date"] == "2028-12-01"
    allocation = _db().session.get(Allocation, allocation_id)
    assert allocation.end_date == END  # until everyone signs, the current end stands

    sign_all(agreement_id, maker, provider, now=at(opens + timedelta(days=3)))
    _db().session.refresh(allocation)
    assert allocation.end_date == allocation.ends_on == date(2028, 12, 1)
    assert [v.status.value for v in the_agreement().versions] == ["superseded", "in_force"]
    assert tick.run(at(END))["agreements.end_due"] == 0
    assert agreements.of_manufacturer_on(maker.organization_id, END)


def test_the_end_of_the_term_stops_coverage_on_that_day(ctx, shared_outlet, make_party):
    from app.models import Allocation, SalesRecord
    from services import obligations, tick

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    for year, sales in ((2026, 400), (2027, 500)):  # Shenzhen: a collection outlet is required
        _db().session.add(SalesRecord(manufacturer_id=maker.organization_id, division_code="440300",
                                      year=year, sales=sales, parc=2000))
    _db().session.commit()
    active_allocation(outlet_id, provider, maker)

    def shenzhen_on(day):
        report = obligations.compute_for(_org(maker), day)
        (city,) = [c for c in report.cities if c.division == "440300"]
        return city

    before = shenzhen_on(END - timedelta(days=1))
    assert before.required == ["collection"]
    assert before.status == "covered"
    assert [m["outlet_id"] for m in before.met_by] == [outlet_id]

    assert tick.run(datetime(2027, 11, 30, 15, 59, tzinfo=UTC))["agreements.end_due"] == 0
    assert tick.run(datetime(2027, 11, 30, 16, 0, tzinfo=UTC))["agreements.end_due"] == 1  # 00:00 in China
    _db().session.commit()
    allocation = _db().session.execute(_db().select(Allocation)).scalar_one()
    assert allocation.status.value == "expired" and allocation.ends_on == END
    assert the_agreement().status.value == "ended"
    assert available(outlet_id) == 100
    assert notified("agreement.allocation_ended") == {provider.organization_id: 1,
                                                      maker.organization_id: 1}

    on_the_day = shenzhen_on(END)
    assert on_the_day.status == "uncovered" and on_the_day.met_by == []
    assert shenzhen_on(END - timedelta(days=1)).status == "covered"  # the past stays as it was


# --- the operator, the outlet and the offer -----------------------------------------------

def test_operator_termination_releases_capacity_at_once(ctx, shared_outlet, make_party, operator):
    from app.models import Allocation
    from services import agreements, capacity_requests
    from services.errors import PermissionDenied, ValidationFailed

    outlet_id, provider = shared_outlet
    maker, next_maker = make_party("manufacturer"), make_party("manufacturer")
    agreement_id = active_allocation(outlet_id, provider, maker, 70)
    assert available(outlet_id) == 30
    later = NOW + timedelta(days=30)

    with pytest.raises(PermissionDenied):
        agreements.terminate(actor_for(provider), agreement_id, "we want out", now=later)
    with pytest.raises(ValidationFailed) as no_reason:
        agreements.terminate(actor_for(operator), agreement_id, "  ", now=later)
    assert "reason" in no_reason.value.fields
    _db().session.rollback()

    agreements.terminate(actor_for(operator), agreement_id, "outlet licence revoked", now=later)
    _db().session.commit()
    allocation = _db().session.execute(_db().select(Allocation)).scalar_one()
    assert allocation.status.value == "terminated"
    assert allocation.ends_on == date(2026, 12, 31) and allocation.end_reason == "outlet licence revoked"
    assert the_agreement().status.value == "ended"
    assert available(outlet_id) == 100  # no tick needed
    assert notified("agreement.terminated") == {provider.organization_id: 1, maker.organization_id: 1}
    assert agreements.of_manufacturer_on(maker.organization_id, date(2026, 12, 30))
    assert not agreements.of_manufacturer_on(maker.organization_id, date(2026, 12, 31))
    # The freed capacity can be contracted the same day.
    request_id = request_capacity(next_maker, outlet_id, 100, start_date="2026-12-31")
    capacity_requests.accept(actor_for(provider), request_id, now=later)
    _db().session.commit()
    assert available(outlet_id) == 0


def test_suspending_the_outlet_flags_the_agreement_for_every_party(
        ctx, shared_outlet, make_party, operator):
    from app.models import Outlet
    from services import outlets

    outlet_id, provider = shared_outlet
    first, joiner = make_party("manufacturer"), make_party("manufacturer")
    active_allocation(outlet_id, provider, first)
    accept(provider, request_capacity(joiner, outlet_id, 30))  # pending, still a party
    assert the_agreement().flagged_at is None

    outlet = _db().session.get(Outlet, outlet_id)
    outlets.change_status(actor_for(operator), outlet, "suspended", "fire inspection failed")
    _db().session.commit()
    agreement = the_agreement()
    assert agreement.flagged_at is not None
    assert "fire inspection failed" in agreement.flag_reason
    assert notified("agreement.flagged") == {provider.organization_id: 1, first.organization_id: 1,
                                             joiner.organization_id: 1}

    outlets.change_status(actor_for(operator), _db().session.get(Outlet, outlet_id), "listed")
    _db().session.commit()
    agreement = the_agreement()
    assert agreement.flagged_at is None and agreement.flag_reason is None
    assert agreement.status.value == "active"


def _offer(capacity):
    return {"capacity_t_per_year": capacity, "annual_fee_fen": 1_200_000,
            "handling_fee_fen_per_t": 30_000, "min_term_months": 12, "available_from": "2026-01-01"}


def test_the_offer_cannot_drop_below_what_allocations_hold(ctx, shared_outlet, make_party):
    from app.models import CapacityOffer, Outlet
    from services import capacity_requests, offers
    from services.errors import Conflict, ValidationFailed

    outlet_id, provider = shared_outlet
    first, joiner, late = (make_party("manufacturer") for _ in range(3))
    active_allocation(outlet_id, provider, first, 40)
    accept(provider, request_capacity(joiner, outlet_id, 30))  # pending allocations hold too
    assert available(outlet_id) == 30

    with pytest.raises(ValidationFailed) as refused:
        offers.set_offer(actor_for(provider), _db().session.get(Outlet, outlet_id), _offer(69.5))
    assert "capacity_t_per_year" in refused.value.fields
    assert "70" in str(refused.value.fields["capacity_t_per_year"][0])
    _db().session.rollback()
    offer = _db().session.execute(_db().select(CapacityOffer)).scalar_one()
    assert offer.capacity_t_per_year == 100 and available(outlet_id) == 30

    offers.set_offer(actor_for(provider), _db().session.get(Outlet, outlet_id), _offer(150))
    _db().session.commit()
    assert available(outlet_id) == 80

    offers.set_offer(actor_for(provider), _db().session.get(Outlet, outlet_id), _offer(70))
    _db().session.commit()
    assert available(outlet_id) == 0
    with pytest.raises(Conflict) as full:
        capacity_requests.create(actor_for(late), _org(late), {
            "outlet_id": outlet_id, "tonnes_per_year": 1, "start_date": "2026-12-01",
            "term_months": 12}, now=NOW)
    assert "tonnes_per_year" in full.value.fields
    _db().session.rollback()


def test_a_suspended_outlet_takes_no_new_allocation(ctx, shared_outlet, make_party, operator):
    from app.models import Agreement, CapacityRequest, Outlet
    from services import capacity_requests, outlets
    from services.errors import Conflict

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request_id = request_capacity(maker, outlet_id)  # made while the outlet was listed
    outlets.change_status(actor_for(operator), _db().session.get(Outlet, outlet_id), "suspended",
                          "fire inspection failed")
    _db().session.commit()

    with pytest.raises(Conflict):
        capacity_requests.accept(actor_for(provider), request_id, now=NOW)
    _db().session.rollback()
    assert _db().session.get(CapacityRequest, request_id).status.value == "requested"
    assert _db().session.execute(_db().select(Agreement)).first() is None
    assert available(outlet_id) == 100

    outlets.change_status(actor_for(operator), _db().session.get(Outlet, outlet_id), "listed")
    _db().session.commit()
    accept(provider, request_id)
    assert the_agreement().flagged_at is None and available(outlet_id) == 60


def test_notice_withdraws_a_renewal_awaiting_signatures(ctx, shared_outlet, make_party):
    from app.models import Allocation
    from services import agreements
    from services.errors import Conflict

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    agreement_id = active_allocation(outlet_id, provider, maker)
    allocation_id = the_agreement().allocations[0].id
    in_window = at(END - timedelta(days=30))
    agreements.propose_renewal(actor_for(provider), allocation_id, in_window)
    _db().session.commit()
    agreements.give_notice(actor_for(maker), allocation_id, "leaving the city", now=in_window)
    _db().session.commit()

    # The renewal text can no longer be signed into force beside the notice.
    agreement = the_agreement()
    assert agreements.pending_version(agreement) is None
    assert [v.status.value for v in agreement.versions] == ["in_force", "replaced"]
    allocation = _db().session.get(Allocation, allocation_id)
    assert allocation.ends_on == END and allocation.renewal_end_date is None
    assert agreements.version_in_force(agreement).document["allocations"][0]["end_date"] == \
        END.isoformat()
    with pytest.raises(Conflict):
        agreements.sign(actor_for(maker), agreement_id, password=PASSWORD,
                        document_sha256=agreement.versions[1].document_sha256, now=in_window)
    _db().session.rollback()


def test_notice_reissues_an_amendment_without_the_withdrawn_renewal(ctx, shared_outlet, make_party):
    from services import agreements, capacity_requests

    outlet_id, provider = shared_outlet
    first, joiner = make_party("manufacturer"), make_party("manufacturer")
    agreement_id = active_allocation(outlet_id, provider, first)
    first_allocation = the_agreement().allocations[0].id
    in_window = at(END - timedelta(days=30))
    agreements.propose_renewal(actor_for(first), first_allocation, in_window)
    request_id = request_capacity(joiner, outlet_id, 30, start_date="2027-11-01")
    capacity_requests.accept(actor_for(provider), request_id, now=in_window)
    _db().session.commit()
    assert agreements.pending_version(the_agreement()).document["allocations"][0]["renewal"]

    agreements.give_notice(actor_for(first), first_allocation, None, now=in_window)
    _db().session.commit()
    pending = agreements.pending_version(the_agreement())
    assert pending.reason == "reissue" and parties_of(pending) == ids(provider, first, joiner)
    terms = {a["manufacturer_id"]: a for a in pending.document["allocations"]}
    assert terms[first.organization_id]["renewal"] is False
    assert terms[first.organization_id]["end_date"] == END.isoformat()

    sign_all(agreement_id, first, joiner, provider, now=in_window)
    statuses = {a.manufacturer_id: (a.status.value, a.ends_on) for a in the_agreement().allocations}
    assert statuses == {first.organization_id: ("active", END),
                        joiner.organization_id: ("active", date(2028, 11, 1))}
