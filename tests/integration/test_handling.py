"""Handled tonnes: the provider records them under an allocation, the maker disputes within
the window, the provider corrects or withdraws, and invoices charge each record once at the
exact fen (kilograms x price / 1000, rounded half up once per line)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.integration.test_contracting_flow import NOW, actor_for, request_capacity, sign_all

PRICE = 30_500  # fen a tonne: 1 kg costs 30.5 fen, so rounding per record would show


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def at(day: str, hour: int = 2) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def signed_allocation(shared_outlet, make_party, *, price=PRICE):
    """One maker's allocation at the shared outlet, the handling fee countered to `price`,
    signed by both at NOW (2026-12-01): active from 2026-12-01 for 12 months."""
    from app.extensions import db
    from app.models import Allocation
    from services import capacity_requests

    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request_id = request_capacity(maker, outlet_id, 50)
    capacity_requests.counter(actor_for(provider), request_id, {"handling_fee_fen_per_t": price}, now=NOW)
    db.session.commit()
    capacity_requests.accept_counter(actor_for(maker), request_id, now=NOW)
    db.session.commit()
    allocation = db.session.execute(db.select(Allocation)).scalar_one()
    sign_all(allocation.agreement_id, maker, provider)
    return allocation.id, provider, maker


def record(party, allocation_id, handled_on, tonnes, when, **extra):
    from app.extensions import db
    from services import handling

    created = handling.record(actor_for(party), allocation_id,
                              {"handled_on": handled_on, "tonnes": tonnes, **extra}, now=when)
    db.session.commit()
    return created.id


def tick(when):
    from app.extensions import db
    from services import tick as ticking

    ran = ticking.run(when)
    db.session.commit()
    return ran["invoices.issue_due"]


def handling_lines(invoice):
    return [line for line in invoice.lines if line.kind == "handling_fee"]


def test_pure_tonnes_and_rounding():
    from services import handling

    assert handling.kilograms_from_tonnes("12.345") == 12_345
    assert handling.kilograms_from_tonnes(0.001) == 1
    assert handling.kilograms_from_tonnes("1，000") == 1_000_000
    for bad in ("0", "-1", "1.0001", "abc", "NaN", "Infinity", None, True, "10000.001"):
        with pytest.raises(ValueError):
            handling.kilograms_from_tonnes(bad)
    assert [handling.tonnes_text(k) for k in (12_345, 12_000, 500, 1)] == ["12.345", "12", "0.5", "0.001"]
    assert handling.fee_fen(1, 30_500) == 31  # 30.5 fen: half up
    assert handling.fee_fen(1, 30_499) == 30
    assert handling.fee_fen(12_347, 30_500) == 376_584  # 376,583.5


def test_records_disputes_corrections_and_invoiced_once_at_exact_fen(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import HandlingRecord, Invoice, Notification
    from services import handling, ledger
    from services.errors import Conflict, PermissionDenied

    allocation_id, provider, maker = signed_allocation(shared_outlet, make_party)

    a = record(provider, allocation_id, "2026-12-02", "12.345", at("2026-12-03"),
               battery_codes="CATL-0001\nCATL-0002", notes="two packs")
    b = record(provider, allocation_id, "2026-12-05", "0.5", at("2026-12-06"))
    d = record(provider, allocation_id, "2026-12-10", "3", at("2026-12-10"))
    f = record(provider, allocation_id, "2026-12-11", "7", at("2026-12-11"))
    stored = db.session.get(HandlingRecord, a)
    assert (stored.kilograms, stored.fee_fen_per_t) == (12_345, PRICE)
    assert stored.recorded_by_id == provider.user_id
    assert stored.dispute_by == at("2026-12-17")  # 14 days
    assert db.session.execute(db.select(Notification).where(
        Notification.event == "handling.recorded", Notification.user_id == maker.user_id)).first()

    # The maker disputes b with a reason; the provider corrects it to 0.002 t (a new record).
    with pytest.raises(PermissionDenied):
        handling.dispute(actor_for(provider), b, "not ours", now=at("2026-12-08"))
    db.session.rollback()
    handling.dispute(actor_for(maker), b, "We delivered 2 kg, not 500", now=at("2026-12-08"))
    db.session.commit()
    c = handling.correct(actor_for(provider), b, {"tonnes": "0.002"}, now=at("2026-12-10")).id
    db.session.commit()
    old, new = db.session.get(HandlingRecord, b), db.session.get(HandlingRecord, c)
    assert old.status.value == "superseded" and new.supersedes_id == b
    assert (new.handled_on, new.kilograms, new.status.value) == (date(2026, 12, 5), 2, "recorded")
    with pytest.raises(Conflict):
        handling.correct(actor_for(provider), b, {"tonnes": "1"}, now=at("2026-12-10"))
    db.session.rollback()
    # d is withdrawn; f stays disputed: neither is ever invoiced.
    handling.withdraw(actor_for(provider), d, "entered twice", now=at("2026-12-11"))
    handling.dispute(actor_for(maker), f, "No delivery that day", now=at("2026-12-12"))
    db.session.commit()
    # Too late to dispute a once its window closed.
    with pytest.raises(Conflict) as late:
        handling.dispute(actor_for(maker), a, "too late", now=at("2026-12-18"))
    assert "record_id" in late.value.fields
    db.session.rollback()
    # e is still open to dispute when the quarter is invoiced: it waits for the next invoice.
    e = record(provider, allocation_id, "2026-12-28", "1", at("2026-12-29"))

    assert tick(at("2027-01-01")) == 1
    assert tick(at("2027-01-01", 3)) == 0  # idempotent
    invoice = db.session.execute(db.select(Invoice)).scalar_one()
    [line] = handling_lines(invoice)
    # a + c = 12.347 t x 305.00 = 376,583.5 fen -> 376,584 (rounded once, half up)
    assert line.net_fen == 376_584 and line.data["record_ids"] == sorted([a, c])
    assert line.description_en.startswith("Handling fee: 12.347 t × ¥305.00/t")
    assert line.description_zh.startswith("处理费：12.347 吨 × ¥305.00/吨")
    assert invoice.net_fen == sum(x.net_fen for x in invoice.lines)
    assert {r.id: r.invoice_id for r in db.session.execute(db.select(HandlingRecord)).scalars()} == {
        a: invoice.id, b: None, c: invoice.id, d: None, e: None, f: None}
    with pytest.raises(Conflict):  # invoiced: no longer changeable
        handling.withdraw(actor_for(provider), a, now=at("2027-01-02"))
    db.session.rollback()

    # g is dated in the invoiced quarter but recorded after it: the next invoice, noted.
    g = record(provider, allocation_id, "2026-12-20", "0.001", at("2027-01-05"))
    h = record(provider, allocation_id, "2027-02-01", "2", at("2027-02-02"))
    assert tick(at("2027-04-01")) == 1
    q1 = db.session.execute(db.select(Invoice).where(Invoice.period_start == date(2027, 1, 1))).scalar_one()
    late_line, current = sorted(handling_lines(q1), key=lambda x: not x.data["late"])
    assert late_line.data == {"record_ids": sorted([e, g]), "kilograms": 1_001, "fee_fen_per_t": PRICE,
                              "late": True}
    assert late_line.net_fen == (1_001 * PRICE + 500) // 1000 == 30_531
    assert "in a period already invoiced" in late_line.description_en
    assert current.data["record_ids"] == [h] and current.net_fen == 61_000
    assert tick(at("2027-04-01", 5)) == 0
    charged = db.session.execute(db.select(HandlingRecord.id).where(
        HandlingRecord.invoice_id.is_not(None))).scalars().all()
    assert sorted(charged) == sorted([a, c, e, g, h])  # each once; b, d, f never
    whole, unbalanced = ledger.totals()
    assert whole == 0 and unbalanced == []


def test_only_records_on_a_signed_allocation_within_its_term_each_error_named(
        ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Allocation
    from services import capacity_requests, handling
    from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

    allocation_id, provider, maker = signed_allocation(shared_outlet, make_party)
    when = at("2026-12-10")

    def refused(party, data, error=ValidationFailed, target=allocation_id):
        with pytest.raises(error) as caught:
            handling.record(actor_for(party), target, data, now=when)
        db.session.rollback()
        return caught.value

    bad = refused(provider, {"handled_on": "2026-13-01", "tonnes": "1.0001", "notes": "x" * 2001})
    assert set(bad.fields) == {"handled_on", "tonnes", "notes"}
    assert set(refused(provider, {"tonnes": "0"}).fields) == {"handled_on", "tonnes"}
    assert "handled_on" in refused(provider, {"handled_on": "2026-11-30", "tonnes": "1"}).fields
    assert "handled_on" in refused(provider, {"handled_on": "2026-12-11", "tonnes": "1"}).fields  # future
    refused(maker, {"handled_on": "2026-12-09", "tonnes": "1"}, PermissionDenied)
    refused(make_party("provider"), {"handled_on": "2026-12-09", "tonnes": "1"}, NotFound)

    # An allocation not signed yet (a second maker's, pending) takes no records.
    second = make_party("manufacturer")
    capacity_requests.accept(actor_for(provider), request_capacity(second, shared_outlet[0], 10), now=NOW)
    db.session.commit()
    pending = db.session.execute(db.select(Allocation.id).where(
        Allocation.manufacturer_id == second.organization_id)).scalar_one()
    assert "allocation_id" in refused(provider, {"handled_on": "2026-12-09", "tonnes": "1"}, Conflict,
                                      pending).fields
    # After its term it still takes days within the term, none after.
    assert record(provider, allocation_id, "2027-11-30", "1", at("2028-01-15"))
    late = refused(provider, {"handled_on": "2027-12-01", "tonnes": "1"})
    assert "handled_on" in late.fields


def test_dispute_days_is_a_setting(app, shared_outlet, make_party):
    from app.models import HandlingRecord

    app.config["HANDLING_DISPUTE_DAYS"] = 3
    try:
        with app.app_context():
            from app.extensions import db

            allocation_id, provider, _maker = signed_allocation(shared_outlet, make_party)
            rid = record(provider, allocation_id, "2026-12-02", "1", at("2026-12-02"))
            assert db.session.get(HandlingRecord, rid).dispute_by == at("2026-12-02") + timedelta(days=3)
    finally:
        app.config.pop("HANDLING_DISPUTE_DAYS")
