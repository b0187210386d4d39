"""The billing pages through the test client: invoices issued and received, an invoice with its
payee bank details and reference, recording a transfer in yuan (exact, partial, over), the
operator's credit note and write-off, the statement, the bank account form, statement import
all-or-nothing, the agreement's cost pools before signing, and the dashboard's overdue card."""

from __future__ import annotations

from datetime import date

import pytest

from tests.integration.conftest import form_post, login
from tests.integration.test_billing import _active_agreement, _one_invoice


@pytest.fixture
def invoice_sides(app, shared_outlet, make_party):
    """One open invoice (from the 2026-12 period) and signed-in clients for both parties."""
    from app.extensions import db

    with app.app_context():
        invoice, provider, maker = _one_invoice(shared_outlet, make_party)
        ids = {"invoice": invoice.id, "gross": invoice.gross_fen, "reference": invoice.payment_reference,
               "agreement": invoice.agreement_id}
        db.session.remove()
    provider_client, maker_client = app.test_client(), app.test_client()
    login(provider_client, provider.email)
    login(maker_client, maker.email)
    return ids, provider, maker, provider_client, maker_client


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def test_lists_detail_bank_details_and_pdf(app, invoice_sides, make_party):
    ids, _provider, _maker, provider_client, maker_client = invoice_sides
    saved = form_post(provider_client, "/billing/bank-account", {
        "bank_name": "中国工商银行深圳宝安支行", "account_name": "测试provider有限公司",
        "account_number": "4000 0210 0900 1234 567"})
    assert saved.status_code == 302
    blank = form_post(provider_client, "/billing/bank-account", {"bank_name": "", "account_name": "",
                                                                  "account_number": ""})
    assert blank.status_code == 422 and 'data-field="bank_name"' in blank.get_data(as_text=True)

    issued = provider_client.get("/billing/invoices?role=issued").get_data(as_text=True)
    assert f'data-invoice-id="{ids["invoice"]}"' in issued
    received_by_provider = provider_client.get("/billing/invoices?role=received")
    assert 'data-invoice-id' not in received_by_provider.get_data(as_text=True)
    received = maker_client.get("/billing/invoices?role=received").get_data(as_text=True)
    assert f'data-invoice-id="{ids["invoice"]}"' in received
    unknown = maker_client.get("/billing/invoices?role=owed", headers={"Accept-Language": "en"})
    html = unknown.get_data(as_text=True)
    assert "must be one of issued, received" in html and f'data-invoice-id="{ids["invoice"]}"' in html

    page = maker_client.get(f"/billing/invoices/{ids['invoice']}").get_data(as_text=True)
    assert ids["reference"] in page and "4000 0210 0900 1234 567" in page
    assert 'data-testid="transfer-form"' not in page  # only the payee records transfers
    assert 'data-testid="pay-by-card"' not in page  # Stripe is not configured
    assert 'data-testid="credit-form"' not in page
    for lang in ("zh", "en"):
        pdf = maker_client.get(f"/billing/invoices/{ids['invoice']}.pdf?lang={lang}")
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    stranger = app.test_client()
    login(stranger, make_party("manufacturer").email)
    assert stranger.get(f"/billing/invoices/{ids['invoice']}").status_code == 404
    assert stranger.get(f"/billing/invoices/{ids['invoice']}.pdf").status_code == 404
    assert 'data-invoice-id' not in stranger.get("/billing/invoices").get_data(as_text=True)


def test_recorded_transfers_show_partial_exact_and_over_payment(app, invoice_sides):
    ids, _provider, maker, provider_client, maker_client = invoice_sides
    path = f"/billing/invoices/{ids['invoice']}"
    assert 'data-testid="bank-details"' in maker_client.get(path).get_data(as_text=True)  # how to pay
    refused = form_post(maker_client, f"{path}/transfers", {
        "transfer-amount_yuan": "1", "transfer-received_on": "2026-11-20"}, page_path=path)
    assert refused.status_code == 403
    bad = form_post(provider_client, f"{path}/transfers", {
        "transfer-amount_yuan": "12.345", "transfer-received_on": "2026-11-20"}, page_path=path)
    assert bad.status_code == 422 and 'data-field="transfer-amount_yuan"' in bad.get_data(as_text=True)
    future = form_post(provider_client, f"{path}/transfers", {
        "transfer-amount_yuan": "1", "transfer-received_on": "2099-01-01"}, page_path=path)
    assert future.status_code == 422 and 'data-field="transfer-received_on"' in future.get_data(as_text=True)

    part = form_post(provider_client, f"{path}/transfers", {
        "transfer-amount_yuan": _yuan(ids["gross"] - 1000), "transfer-received_on": "2026-11-20",
        "transfer-reference": ids["reference"]}, page_path=path)
    assert part.status_code == 302
    shown = provider_client.get(path).get_data(as_text=True)
    assert 'data-state="partial"' in shown and "10.00" in shown
    assert "开具日期" in shown and "发证日期" not in shown  # an invoice is issued, not certified
    form_post(provider_client, f"{path}/transfers", {
        "transfer-amount_yuan": "10", "transfer-received_on": "2026-11-21"}, page_path=path)
    paid = provider_client.get(path).get_data(as_text=True)
    assert 'data-state="paid"' in paid and 'data-testid="bank-details"' not in paid  # nothing to pay
    over = form_post(provider_client, f"{path}/transfers", {
        "transfer-amount_yuan": "5.00", "transfer-received_on": "2026-11-22"}, page_path=path)
    assert over.status_code == 302
    shown = maker_client.get(path).get_data(as_text=True)
    assert 'data-state="overpaid"' in shown

    statement = maker_client.get("/billing/statement").get_data(as_text=True)
    assert 'data-testid="statement-lines"' in statement and "5.00" in statement
    # a payment line names its method in the reader's words, then the transfer's reference
    assert "bank_transfer" not in statement and f"银行转账 · {ids['reference']}" in statement
    # A period: what came before it is its opening balance (the 20 Nov transfer), what is in it
    # its lines (the 21 Nov one); the invoice (issued 1 Jan 2027) and the 22 Nov over-payment
    # fall outside it.
    day = maker_client.get("/billing/statement?from=2026-11-21&until=2026-11-21").get_data(as_text=True)
    assert f'data-testid="opening" data-fen="{-(ids["gross"] - 1000)}"' in day
    assert f'data-testid="closing" data-fen="{-ids["gross"]}"' in day
    assert "2026-11-21" in day and "2026-11-22" not in day.split('data-testid="statement-lines"')[1]
    for query, field in (("from=2026-13-01", "from"), ("from=2026-11-22&until=2026-11-21", "until")):
        refused = maker_client.get(f"/billing/statement?{query}")
        assert refused.status_code == 400 and f'data-field="{field}"' in refused.get_data(as_text=True)
    from app.extensions import db
    from services import ledger

    with app.app_context():
        assert ledger.balance_of(maker.organization_id) == -500
        whole, unbalanced = ledger.totals()
        assert whole == 0 and unbalanced == []
        db.session.remove()


def test_operator_credits_and_writes_off_with_a_reason(app, invoice_sides, operator):
    ids, _provider, _maker, provider_client, _maker_client = invoice_sides
    path = f"/billing/invoices/{ids['invoice']}"
    op = app.test_client()
    login(op, operator.email)
    assert 'data-testid="credit-form"' in op.get(path).get_data(as_text=True)
    assert form_post(provider_client, f"{path}/write-off", {"writeoff-reason": "x"},
                     page_path=path).status_code == 403
    no_reason = form_post(op, f"{path}/credit-notes", {"credit-amount_yuan": "10", "credit-reason": ""},
                          page_path=path)
    assert no_reason.status_code == 422 and 'data-field="credit-reason"' in no_reason.get_data(as_text=True)
    credited = form_post(op, f"{path}/credit-notes", {"credit-amount_yuan": "10",
                                                      "credit-reason": "outage in December"},
                         page_path=path)
    assert credited.status_code == 302
    written = form_post(op, f"{path}/write-off", {"writeoff-reason": "insolvent"}, page_path=path)
    assert written.status_code == 302
    shown = op.get(path).get_data(as_text=True)
    assert 'data-state="written_off"' in shown


def test_statement_import_reports_every_bad_line_and_matches_by_reference(app, invoice_sides):
    ids, _provider, _maker, provider_client, maker_client = invoice_sides
    page = provider_client.get("/billing/bank-statements")
    from tests.conftest import csrf_token_from

    token = csrf_token_from(page.get_data(as_text=True))
    bad = (f"日期,金额,附言\n2026-11-20,{_yuan(ids['gross'])},{ids['reference']}\n"
           "2026-13-01,abc,x\n2026-11-21,1.2.3,y\n").encode()
    import io

    refused = provider_client.post("/billing/bank-statements", data={
        "csrf_token": token, "file": (io.BytesIO(bad), "statement.csv")},
        content_type="multipart/form-data")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "line 3" in text and "line 4" in text
    assert 'data-state="unpaid"' in provider_client.get(f"/billing/invoices/{ids['invoice']}").get_data(
        as_text=True)
    good = f"date,amount,reference\n2026-11-20,{_yuan(ids['gross'])},pay {ids['reference']}\n".encode()
    imported = provider_client.post("/billing/bank-statements", data={
        "csrf_token": token, "file": (io.BytesIO(good), "statement.csv")},
        content_type="multipart/form-data")
    assert imported.status_code == 200 and 'data-outcome="exact"' in imported.get_data(as_text=True)
    assert maker_client.get("/billing/bank-statements").status_code == 403


def test_overdue_invoice_shows_on_both_dashboards(app, invoice_sides):
    from app.extensions import db
    from app.models import Invoice

    ids, _provider, _maker, provider_client, maker_client = invoice_sides
    with app.app_context():
        db.session.get(Invoice, ids["invoice"]).due_on = date(2026, 11, 1)
        db.session.commit()
    for client in (provider_client, maker_client):
        dashboard = client.get("/dashboard").get_data(as_text=True)
        assert 'data-testid="overdue-invoices"' in dashboard
    assert 'data-testid="overdue"' in maker_client.get("/billing/invoices").get_data(as_text=True)


def test_cost_pools_on_the_agreement_page_before_signing(app, shared_outlet, make_party):
    from app.extensions import db

    with app.app_context():
        agreement_id, provider, makers = _active_agreement(shared_outlet, make_party, tonnes=(60, 20))
        maker_ids = [m.organization_id for m in makers]
        db.session.remove()
    client = app.test_client()
    login(client, provider.email)
    path = f"/contracts/agreements/{agreement_id}"
    assert 'data-testid="no-pools"' in client.get(path).get_data(as_text=True)

    refused = form_post(client, f"/billing/agreements/{agreement_id}/cost-pools", {
        "pool-name": "Brine tank", "pool-kind": "one_off", "pool-rule": "capacity",
        "pool-lines": "Brine tank | 10000.01"}, page_path=path)
    assert refused.status_code == 422 and 'data-field="pool-lines"' in refused.get_data(as_text=True)
    created = form_post(client, f"/billing/agreements/{agreement_id}/cost-pools", {
        "pool-name": "Brine tank", "pool-kind": "one_off", "pool-rule": "capacity",
        "pool-lines": "Brine tank | 10000.01 | 12\nSprinklers | 5000 | 16"}, page_path=path)
    assert created.status_code == 302
    page = client.get(path).get_data(as_text=True)
    # 1,500,001 fen split 60:20 -> 1,125,000.75 and 375,000.25: the extra fen to the larger remainder.
    assert f'data-maker-id="{maker_ids[0]}"' in page and 'data-fen="1125001"' in page
    assert 'data-fen="375000"' in page

    with app.app_context():
        from services import cost_pools

        pool_id = cost_pools.pools_of(agreement_id)[0].id
        db.session.remove()
    no_weights = form_post(client, f"/billing/agreements/{agreement_id}/cost-pools/{pool_id}", {
        f"pool{pool_id}-name": "Brine tank", f"pool{pool_id}-kind": "one_off",
        f"pool{pool_id}-rule": "custom", f"pool{pool_id}-lines": "Brine tank | 100 | 12",
        f"weight-{maker_ids[0]}": "0"}, page_path=path)
    # The service's reason has no form field of its own: it is shown above the form.
    assert no_weights.status_code == 422
    assert "至少一家大于 0" in no_weights.get_data(as_text=True)
    custom = form_post(client, f"/billing/agreements/{agreement_id}/cost-pools/{pool_id}", {
        f"pool{pool_id}-name": "Brine tank", f"pool{pool_id}-kind": "one_off",
        f"pool{pool_id}-rule": "custom", f"pool{pool_id}-lines": "Brine tank | 100 | 12",
        f"weight-{maker_ids[0]}": "1", f"weight-{maker_ids[1]}": "3"}, page_path=path)
    assert custom.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert 'data-fen="2500"' in page and 'data-fen="7500"' in page

    period = form_post(client, f"/billing/agreements/{agreement_id}/billing-period",
                       {"period-period": "monthly"}, page_path=path)
    assert period.status_code == 302
    deleted = form_post(client, f"/billing/agreements/{agreement_id}/cost-pools/{pool_id}/delete", {},
                        page_path=path)
    assert deleted.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert 'data-testid="no-pools"' in page and 'data-testid="billing-period"' in page
