"""Cost pools frozen in the signed agreement, invoices by tick (idempotent, gapless, prorated
on join), the ledger's zero sum, bank-transfer reconciliation and statement import, overdue
reminders, write-off and credit notes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.integration.test_contracting_flow import NOW, actor_for, request_capacity, sign_all

LATER = datetime(2027, 1, 10, 2, tzinfo=UTC)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def _pool(agreement_id, party, **data):
    from app.extensions import db
    from services import cost_pools

    pool = cost_pools.create(actor_for(party), agreement_id, data, now=NOW)
    db.session.commit()
    return pool.id


def _active_agreement(shared_outlet, make_party, *, tonnes=(60, 20)):
    """Two makers at the shared outlet, in one agreement signed by all (in force NOW)."""
    from app.extensions import db
    from app.models import Agreement
    from services import capacity_requests

    outlet_id, provider = shared_outlet
    makers = [make_party("manufacturer") for _ in tonnes]
    for maker, t in zip(makers, tonnes, strict=True):
        capacity_requests.accept(actor_for(provider), request_capacity(maker, outlet_id, t), now=NOW)
        db.session.commit()
    agreement_id = db.session.execute(db.select(Agreement.id)).scalar_one()
    return agreement_id, provider, makers


def _zero_sum():
    from services import ledger

    whole, unbalanced = ledger.totals()
    assert whole == 0 and unbalanced == []


def test_pools_are_split_before_signing_and_frozen_by_the_signatures(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Agreement
    from services import agreements, cost_pools

    agreement_id, provider, makers = _active_agreement(shared_outlet, make_party)
    _pool(agreement_id, provider, name="Brine tank and discharge cabinet", kind="one_off", rule="capacity",
          lines=[{"description": "Brine tank", "amount_fen": 1_000_001, "checklist_item": 12},
                 {"description": "Sprinklers", "amount_fen": 500_000, "checklist_item": 16}])
    preview = cost_pools.preview(actor_for(makers[0]), agreement_id)
    assert [s["share_fen"] for s in preview[0]["shares"]] == [1_125_001, 375_000]
    agreement = db.session.get(Agreement, agreement_id)
    version = agreements.pending_version(agreement)
    assert version.reason == "costs"
    assert version.document["cost_pools"][0]["total_fen"] == 1_500_001
    sign_all(agreement_id, *makers, provider)
    db.session.refresh(agreement)
    frozen = agreements.version_in_force(agreement)
    assert frozen.document["cost_pools"] == preview

    # A later change is a new version to sign; the signed one stays as it was.
    from services.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as bad:
        cost_pools.create(actor_for(provider), agreement_id, {"name": "x", "kind": "one_off",
                          "rule": "equal", "lines": [{"description": "y", "amount_fen": 5}]})
    assert "lines.0.checklist_item" in bad.value.fields
    db.session.rollback()
    _pool(agreement_id, makers[1], name="Monitoring", kind="recurring", rule="equal",
          lines=[{"description": "Temperature monitoring", "amount_fen": 365_00}])
    db.session.refresh(agreement)
    assert agreements.pending_version(agreement).reason == "costs"
    assert len(agreements.version_in_force(agreement).document["cost_pools"]) == 1


def _run_tick(when):
    from app.extensions import db
    from services import tick

    ran = tick.run(when)
    db.session.commit()
    return ran


def test_invoices_by_tick_are_idempotent_gapless_prorated_and_balanced(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import AgreementBilling, Invoice
    from services import invoices, ledger

    agreement_id, provider, makers = _active_agreement(shared_outlet, make_party)
    db.session.add(AgreementBilling(agreement_id=agreement_id, period="monthly"))
    db.session.commit()
    _pool(agreement_id, provider, name="Operating", kind="recurring", rule="capacity",
          lines=[{"description": "Security and insurance", "amount_fen": 3_650_000}])
    sign_all(agreement_id, *makers, provider)

    # Nothing before December ends (billed in arrears), then one invoice per maker.
    assert _run_tick(datetime(2026, 12, 31, 2, tzinfo=UTC))["invoices.issue_due"] == 0
    assert _run_tick(datetime(2027, 1, 1, 2, tzinfo=UTC))["invoices.issue_due"] == 2
    assert _run_tick(datetime(2027, 1, 1, 3, tzinfo=UTC))["invoices.issue_due"] == 0  # idempotent
    first = db.session.execute(db.select(Invoice).where(Invoice.customer_id == makers[0].organization_id)
                               ).scalar_one()
    # 31 days of a 1,200,000 fen annual fee (the allocation's year from 2026-12-01) plus
    # 60/80 of 31 days of a 3,650,000 fen pool accrued over calendar 2026.
    fee = 1_200_000 * 31 // 365
    pool = 3_650_000 * 365 // 365 - 3_650_000 * 334 // 365
    assert [line.net_fen for line in first.lines] == [fee, pool * 60 // 80]
    assert first.tax_fen == (first.net_fen * 600 + 5000) // 10000
    assert first.gross_fen == first.net_fen + first.tax_fen
    assert first.due_on == date(2027, 1, 31)

    # A third maker joins from 1 February: re-split from that day; Jan billed as before.
    from services import capacity_requests

    third = make_party("manufacturer")
    request_id = request_capacity(third, shared_outlet[0], 20, start_date="2027-02-01")
    capacity_requests.accept(actor_for(provider), request_id, now=NOW + timedelta(days=40))
    db.session.commit()
    sign_all(agreement_id, *makers, third, provider, now=NOW + timedelta(days=41))
    _run_tick(datetime(2027, 3, 1, 2, tzinfo=UTC))
    feb = db.session.execute(db.select(Invoice).where(Invoice.period_start == date(2027, 2, 1))
                             .order_by(Invoice.customer_id)).scalars().all()
    assert len(feb) == 3
    pool_parts = [next(line.net_fen for line in inv.lines if line.kind == "recurring_pool") for inv in feb]
    feb_pool = 3_650_000 * 59 // 365 - 3_650_000 * 31 // 365
    assert sum(pool_parts) == feb_pool and pool_parts == [feb_pool * 60 // 100, feb_pool * 20 // 100,
                                                          feb_pool * 20 // 100]

    numbers = sorted(db.session.execute(db.select(Invoice.sequence).where(
        Invoice.issuer_id == provider.organization_id)).scalars())
    assert numbers == list(range(1, len(numbers) + 1))  # no gaps
    _zero_sum()
    fee_total = sum(i.platform_fee_fen for i in db.session.execute(db.select(Invoice)).scalars())
    assert ledger.accounts_of(invoices.platform_organization_id())["fee_revenue"] == -fee_total
    assert ledger.balance_of(makers[0].organization_id) == sum(
        i.gross_fen for i in db.session.execute(db.select(Invoice).where(
            Invoice.customer_id == makers[0].organization_id)).scalars())

    pdf = invoices_pdf(first.id)
    assert pdf.startswith(b"%PDF")


def invoices_pdf(invoice_id):
    from app.extensions import db
    from app.models import Invoice
    from services import invoice_pdf

    return invoice_pdf.render_invoice(db.session.get(Invoice, invoice_id), "en")


def _one_invoice(shared_outlet, make_party):
    from app.extensions import db
    from app.models import Invoice

    agreement_id, provider, makers = _active_agreement(shared_outlet, make_party, tonnes=(50,))
    sign_all(agreement_id, *makers, provider)
    _run_tick(datetime(2027, 1, 1, 2, tzinfo=UTC))
    invoice = db.session.execute(db.select(Invoice)).scalar_one()
    return invoice, provider, makers[0]


def test_bank_transfers_reconcile_exact_partial_and_over_payments(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Invoice
    from services import ledger
    from services.errors import PermissionDenied
    from services.payments import bank_transfer

    invoice, provider, maker = _one_invoice(shared_outlet, make_party)
    gross = invoice.gross_fen
    with pytest.raises(PermissionDenied):
        bank_transfer.record_transfer(actor_for(maker), invoice.id, amount_fen=gross,
                                      received_on="2027-01-05",
                                         reference=invoice.payment_reference, now=LATER)
    db.session.rollback()
    part = bank_transfer.record_transfer(actor_for(provider), invoice.id, amount_fen=gross - 1000,
                                         received_on="2027-01-05",
                                         reference=invoice.payment_reference, now=LATER)
    db.session.commit()
    assert part["outcome"] == "partial" and part["outstanding_fen"] == 1000
    assert db.session.get(Invoice, invoice.id).status.value == "open"
    exact = bank_transfer.record_transfer(actor_for(provider), invoice.id, amount_fen=1000,
                                          received_on="2027-01-06", reference=None, now=LATER)
    db.session.commit()
    assert exact["outcome"] == "exact" and exact["status"] == "paid"
    over = bank_transfer.record_transfer(actor_for(provider), invoice.id, amount_fen=500,
                                         received_on="2027-01-07", reference=None,
                                         bank_transaction_id="B-77", now=LATER)
    db.session.commit()
    assert over["outcome"] == "overpayment" and over["outstanding_fen"] == -500
    again = bank_transfer.record_transfer(actor_for(provider), invoice.id, amount_fen=500,
                                          received_on="2027-01-07", reference=None,
                                          bank_transaction_id="B-77", now=LATER)
    assert again["new"] is False
    assert ledger.balance_of(maker.organization_id) == -500  # the maker's credit
    _zero_sum()


def test_statement_import_matches_by_reference_all_or_nothing(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Invoice, Payment
    from services import bank_statements
    from services.errors import ValidationFailed

    invoice, provider, _maker = _one_invoice(shared_outlet, make_party)
    ref, gross = invoice.payment_reference, invoice.gross_fen
    bad = f"日期,金额,附言\n2027-01-05,{gross / 100:.2f},{ref}\n2027-13-01,abc,x\n"
    with pytest.raises(ValidationFailed) as refused:
        bank_statements.import_statement(actor_for(provider), provider.organization_id, bad, now=LATER)
    assert set(refused.value.fields) == {"line 3"}
    db.session.rollback()
    assert db.session.execute(db.select(Payment)).first() is None
    good = (f"date,amount,reference,transaction_id\n2027-01-05,\"{gross / 100:,.2f}\","
            f"payment {ref.lower()} thanks,T1\n2027-01-06,-50.00,fees,T2\n2027-01-06,10.00,no ref,T3\n")
    result = bank_statements.import_statement(actor_for(provider), provider.organization_id, good, now=LATER)
    db.session.commit()
    assert [m["outcome"] for m in result["matched"]] == ["exact"]
    assert [u["line"] for u in result["unmatched"]] == [4] and result["outgoing_skipped"] == 1
    again = bank_statements.import_statement(actor_for(provider), provider.organization_id, good, now=LATER)
    db.session.commit()
    assert again["matched"] == [] and again["duplicates"] == 1
    assert db.session.get(Invoice, invoice.id).status.value == "paid"


def test_overdue_reminders_write_off_and_credit_note(ctx, shared_outlet, make_party, operator):
    from app.extensions import db
    from app.models import Invoice, Notification
    from services import invoices, ledger
    from services.errors import PermissionDenied

    invoice, provider, maker = _one_invoice(shared_outlet, make_party)
    due = invoice.due_on
    assert _run_tick(datetime.combine(due, datetime.min.time(), UTC) + timedelta(days=1, hours=2)
                     )["invoices.overdue_reminders"] == 1
    assert _run_tick(datetime.combine(due, datetime.min.time(), UTC) + timedelta(days=2, hours=2)
                     )["invoices.overdue_reminders"] == 0
    assert db.session.execute(db.select(Notification).where(Notification.event == "invoice.overdue")
                              ).scalars().all()
    assert invoices.overdue_for([maker.organization_id], due + timedelta(days=3))[0].id == invoice.id
    assert invoices.overdue_for([provider.organization_id], due + timedelta(days=3))[0].id == invoice.id

    with pytest.raises(PermissionDenied):
        invoices.write_off(actor_for(provider), invoice.id, "cannot pay")
    db.session.rollback()
    credited = invoices.credit(actor_for(operator), invoice.id, 1000, "service interrupted")
    db.session.commit()
    assert credited.outstanding_fen == invoice.gross_fen - 1000
    fee_after_credit = ledger.accounts_of(provider.organization_id)["platform_fee"]
    assert fee_after_credit < invoice.platform_fee_fen
    written = invoices.write_off(actor_for(operator), invoice.id, "insolvent")
    db.session.commit()
    assert written.status.value == "written_off" and written.outstanding_fen == 0
    assert ledger.balance_of(maker.organization_id) == 0
    assert db.session.get(Invoice, invoice.id).written_off_fen == invoice.gross_fen - 1000
    _zero_sum()


def test_ledger_rows_are_append_only(ctx, shared_outlet, make_party):
    from app.extensions import db
    from app.models import LedgerEntry
    from app.models.billing import LedgerIsAppendOnly

    _one_invoice(shared_outlet, make_party)
    entry = db.session.execute(db.select(LedgerEntry)).scalars().first()
    entry.amount_fen += 1
    with pytest.raises(LedgerIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.execute(db.select(LedgerEntry)).scalars().first())
    with pytest.raises(LedgerIsAppendOnly):
        db.session.flush()
    db.session.rollback()
