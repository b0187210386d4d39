"""Card payments against localstripe (a local Stripe API, started here on 127.0.0.1), and the
calls localstripe lacks covered by recorded request/response fixtures that the stripe
library's own request construction must match exactly (stripe_recording.py).

- Paying an invoice creates its PaymentIntent with the idempotency key derived from the
  invoice: paying twice gives the same intent, for the gross in fen, in CNY.
- localstripe refuses `transfer_group` (and `description`) on a PaymentIntent, so with
  STRIPE_EMULATOR=localstripe the provider leaves them out; what production sends, with them,
  is checked against the recorded request.
- Connect: onboarding (Account + AccountLink) and the payout Transfer after the webhook, in the
  invoice's transfer group with an idempotency key, posted to the ledger as a payout.
- Refunds of an over-payment: by bank (recorded) and by card (a Refund in localstripe).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date

import pytest

from tests.integration.conftest import form_post, login
from tests.integration.stripe_recording import RecordingHTTPClient, load
from tests.integration.test_billing import _one_invoice
from tests.integration.test_stripe_webhooks import SECRET, event, post, signed

LAUNCH = ("import sys; from aiohttp import web; from localstripe.server import app; "
          "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def localstripe_url():
    """localstripe on 127.0.0.1 (a subprocess of this Python), until it answers."""
    try:
        import localstripe  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("localstripe is not installed; CI installs the dev extra")
        pytest.skip("localstripe is not installed (pip install -e '.[dev]')")
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", LAUNCH, str(port)],  # noqa: S603
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            request = urllib.request.Request(f"{url}/v1/customers",  # noqa: S310
                                             headers={"Authorization": "Bearer sk_test_local"})
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310
                break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                reason = process.stderr.read().decode(errors="replace")[-500:]
                if os.environ.get("CI"):
                    pytest.fail(f"localstripe did not start: {reason}")
                pytest.skip(f"localstripe did not start: {reason}")
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def stripe_app(app):
    names = ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE",
             "STRIPE_EMULATOR")
    before = {name: app.config.get(name) for name in names}
    app.config.update(STRIPE_SECRET_KEY="sk_test_local", STRIPE_PUBLISHABLE_KEY="pk_test_local",
                      STRIPE_WEBHOOK_SECRET=SECRET, STRIPE_API_BASE=None, STRIPE_EMULATOR=None)
    yield app
    app.config.update(before)
    app.extensions.pop("stripe_http_client", None)


@pytest.fixture
def on_localstripe(stripe_app, localstripe_url):
    import stripe

    stripe_app.config.update(STRIPE_API_BASE=localstripe_url, STRIPE_EMULATOR="localstripe")
    recorder = RecordingHTTPClient(inner=stripe.new_default_http_client())
    stripe_app.extensions["stripe_http_client"] = recorder
    return recorder


def _stripe():
    from services.payments import stripe_provider

    return stripe_provider.client()


def test_paying_twice_gives_one_payment_intent_for_the_gross(stripe_app, on_localstripe, shared_outlet,
                                                             make_party):
    from app.extensions import db

    with stripe_app.app_context():
        invoice, _provider, maker = _one_invoice(shared_outlet, make_party)
        invoice_id, gross = invoice.id, invoice.gross_fen
        db.session.remove()
    client = stripe_app.test_client()
    first = client.post(f"/api/v1/invoices/{invoice_id}/pay?provider=stripe", headers=maker.headers)
    again = client.post(f"/api/v1/invoices/{invoice_id}/pay?provider=stripe", headers=maker.headers)
    assert first.status_code == again.status_code == 200
    assert first.get_json()["payment_intent"] == again.get_json()["payment_intent"]
    created = [r for r in on_localstripe.sent if r["path"] == "/v1/payment_intents"]
    assert len(created) == 1
    assert created[0]["idempotency_key"] == f"outletpool-invoice-{invoice_id}-{gross}"
    # localstripe refuses these; production sends them (test_production_payment_intent_request).
    assert "transfer_group" not in created[0]["params"]
    with stripe_app.app_context():
        intent = _stripe().v1.payment_intents.retrieve(first.get_json()["payment_intent"])
    assert (intent.amount, intent.currency) == (gross, "cny")
    assert intent.metadata["invoice_id"] == str(invoice_id)

    # The page: the card button only for the customer, and it lands on the same intent.
    page_client = stripe_app.test_client()
    login(page_client, maker.email)
    path = f"/billing/invoices/{invoice_id}"
    assert 'data-testid="pay-by-card"' in page_client.get(path).get_data(as_text=True)
    card = form_post(page_client, f"{path}/pay-by-card", {}, page_path=path)
    assert card.status_code == 200 and first.get_json()["payment_intent"] in card.get_data(as_text=True)
    assert 'data-status="requires_payment_method"' in card.get_data(as_text=True)
    assert ">requires_payment_method<" not in card.get_data(as_text=True)  # shown in words


def test_production_payment_intent_request_carries_the_transfer_group(stripe_app, shared_outlet,
                                                                       make_party):
    """Without an emulator the provider sends transfer_group and description: the request the
    library builds must equal the recorded one (no network: the recorder answers)."""
    from app.extensions import db
    from services.audit import Actor
    from services.payments import stripe_provider

    recorder = RecordingHTTPClient()
    stripe_app.extensions["stripe_http_client"] = recorder
    with stripe_app.app_context():
        invoice, _provider, maker = _one_invoice(shared_outlet, make_party)
        recorder.expect(load("payment_intent_create"), amount=invoice.gross_fen, invoice_id=invoice.id,
                        invoice_number=invoice.number)
        from app.models import User

        started = stripe_provider.PROVIDER.start(Actor(user=db.session.get(User, maker.user_id)), invoice)
        assert recorder.sent[0]["params"]["transfer_group"] == f"invoice-{invoice.id}"
        db.session.commit()
    assert started["payment_intent"] == "pi_3RecordedIntent0001" and not recorder.replies


def test_connect_onboarding_and_payout_after_the_webhook(stripe_app, shared_outlet, make_party):
    from app.extensions import db
    from app.models import ConnectedAccount, Organization, Payout
    from services import ledger

    recorder = RecordingHTTPClient()
    stripe_app.extensions["stripe_http_client"] = recorder
    with stripe_app.app_context():
        invoice, provider, _maker = _one_invoice(shared_outlet, make_party)
        organization = db.session.get(Organization, provider.organization_id)
        organization.contact_email = "finance@provider.example"
        db.session.commit()
        names = {"organization_id": provider.organization_id, "email": organization.contact_email,
                 "business_name": organization.english_name or organization.legal_name}
        invoice_id, gross, fee = invoice.id, invoice.gross_fen, invoice.platform_fee_fen
        payload = event("evt_paid", "payment_intent.succeeded", invoice, intent="pi_3RecordedIntent0001")
        db.session.remove()
    back = "http://localhost/billing/bank-account"
    recorder.expect(load("account_create"), **names)
    recorder.expect(load("account_link_create"), back=back)

    page = stripe_app.test_client()
    login(page, provider.email)
    assert 'data-testid="stripe-onboard"' in page.get("/billing/bank-account").get_data(as_text=True)
    onboarding = form_post(page, "/billing/stripe-onboarding", {}, page_path="/billing/bank-account")
    assert onboarding.status_code == 302
    assert onboarding.headers["Location"] == "https://connect.stripe.com/setup/e/acct_1RecordedAccount/recorded"
    with stripe_app.app_context():
        account = db.session.execute(db.select(ConnectedAccount)).scalar_one()
        assert account.external_id == "acct_1RecordedAccount"

    # The card payment succeeds: the webhook records it and pays the provider its share.
    recorder.expect(load("transfer_create"), amount=gross - fee, invoice_id=invoice_id, payment_id=1)
    client = stripe_app.test_client()
    for _ in range(3):  # replays transfer nothing more
        assert post(client, payload, signed(payload)).status_code == 200
    assert not recorder.replies
    assert [r["path"] for r in recorder.sent].count("/v1/transfers") == 1
    with stripe_app.app_context():
        payout = db.session.execute(db.select(Payout)).scalar_one()
        assert (payout.status, payout.external_id, payout.amount_fen) == ("sent", "tr_1RecordedTransfer",
                                                                          gross - fee)
        assert ledger.balance_of(provider.organization_id) == 0
        assert ledger.accounts_of(provider.organization_id)["stripe_payouts"] == gross - fee
        whole, unbalanced = ledger.totals()
        assert whole == 0 and unbalanced == []


def test_payout_waits_for_a_connected_account_and_is_retried_by_tick(stripe_app, shared_outlet, make_party):
    from datetime import UTC, datetime

    from app.extensions import db
    from app.models import ConnectedAccount, Payout
    from services import tick

    recorder = RecordingHTTPClient()
    stripe_app.extensions["stripe_http_client"] = recorder
    with stripe_app.app_context():
        invoice, provider, _maker = _one_invoice(shared_outlet, make_party)
        payload = event("evt_paid", "payment_intent.succeeded", invoice, intent="pi_3RecordedIntent0001")
        invoice_id, amount = invoice.id, invoice.gross_fen - invoice.platform_fee_fen
        db.session.remove()
    assert post(stripe_app.test_client(), payload, signed(payload)).status_code == 200
    with stripe_app.app_context():
        payout = db.session.execute(db.select(Payout)).scalar_one()
        assert payout.status == "pending" and "connected" in payout.error
        db.session.add(ConnectedAccount(organization_id=provider.organization_id, provider="stripe",
                                        external_id="acct_1RecordedAccount"))
        db.session.commit()
        recorder.expect(load("transfer_create"), amount=amount, invoice_id=invoice_id,
                        payment_id=payout.payment_id)
        assert tick.run(datetime(2027, 1, 6, 2, tzinfo=UTC))["payouts.retry"] == 1
        db.session.commit()
        assert tick.run(datetime(2027, 1, 7, 2, tzinfo=UTC))["payouts.retry"] == 0
        assert db.session.execute(db.select(Payout)).scalar_one().status == "sent"


def _confirm_in_localstripe(intent_id: str) -> dict:
    stripe = _stripe()
    method = stripe.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030,
                                 "cvc": "123"}})
    # localstripe confirms only an intent that already names its payment method.
    stripe.v1.payment_intents.update(intent_id, params={"payment_method": method.id})
    stripe.v1.payment_intents.confirm(intent_id)
    return json.loads(str(stripe.v1.payment_intents.retrieve(intent_id)))


def test_overpayment_refunds_by_bank_and_by_card(stripe_app, on_localstripe, shared_outlet, make_party,
                                                 operator):
    from app.extensions import db
    from app.models import Invoice, Payment
    from services import ledger

    with stripe_app.app_context():
        invoice, provider, maker = _one_invoice(shared_outlet, make_party)
        invoice_id, gross = invoice.id, invoice.gross_fen
        db.session.remove()
    api = stripe_app.test_client()
    intent_id = api.post(f"/api/v1/invoices/{invoice_id}/pay?provider=stripe",
                         headers=maker.headers).get_json()["payment_intent"]
    with stripe_app.app_context():
        intent = _confirm_in_localstripe(intent_id)
    assert intent["status"] == "succeeded"
    # The webhook carries the intent as localstripe holds it (the invoice id in its metadata).
    payload = json.dumps({"id": "evt_local_1", "object": "event", "type": "payment_intent.succeeded",
                          "data": {"object": intent}}).encode()
    assert post(api, payload, signed(payload)).status_code == 200
    # The customer also transfers 30.00 by bank: over-paid by 30.00.
    assert api.post(f"/api/v1/invoices/{invoice_id}/transfers", headers=provider.headers,
                    json={"amount_fen": 3000, "received_on": date(2026, 11, 20).isoformat()}
                    ).status_code == 201

    provider_page = stripe_app.test_client()
    login(provider_page, provider.email)
    path = f"/billing/invoices/{invoice_id}"
    assert 'data-testid="refund-form"' in provider_page.get(path).get_data(as_text=True)
    too_much = form_post(provider_page, f"{path}/refunds", {
        "refund-amount_yuan": "30.01", "refund-method": "bank_transfer", "refund-reason": "paid twice"},
        page_path=path)
    assert too_much.status_code == 422
    by_card = form_post(provider_page, f"{path}/refunds", {
        "refund-amount_yuan": "10", "refund-method": "stripe", "refund-reason": "paid twice"}, page_path=path)
    assert by_card.status_code == 403  # the platform holds card money: operators refund it
    by_bank = form_post(provider_page, f"{path}/refunds", {
        "refund-amount_yuan": "20", "refund-method": "bank_transfer", "refund-reason": "paid twice"},
        page_path=path)
    assert by_bank.status_code == 302

    op = stripe_app.test_client()
    login(op, operator.email)
    by_card = form_post(op, f"{path}/refunds", {
        "refund-amount_yuan": "10", "refund-method": "stripe", "refund-reason": "paid twice"}, page_path=path)
    assert by_card.status_code == 302
    refunds = [r for r in on_localstripe.sent if r["path"] == "/v1/refunds"]
    assert len(refunds) == 1 and refunds[0]["params"]["amount"] == "1000"
    assert refunds[0]["params"]["payment_intent"] == intent_id
    with stripe_app.app_context():
        listed = _stripe().v1.refunds.list(params={"payment_intent": intent_id})
        assert [r.amount for r in listed.data] == [1000]
        invoice = db.session.get(Invoice, invoice_id)
        assert invoice.outstanding_fen == 0 and invoice.paid_fen == gross
        card = db.session.execute(db.select(Payment).where(Payment.provider == "stripe")).scalar_one()
        assert card.refunded_fen == 1000
        assert ledger.balance_of(maker.organization_id) == 0
        kinds = [t.kind for t in db.session.execute(db.select(ledger.LedgerTransaction)).scalars()]
        assert kinds.count("refund") == 2
        whole, unbalanced = ledger.totals()
        assert whole == 0 and unbalanced == []
