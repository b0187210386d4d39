"""Stripe webhooks with the real library's signature scheme and a test secret: a forged
signature is refused with 400 and changes nothing; the success event replayed ten times, in
any order with other events (and a second event id for the same intent), records one payment."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from datetime import UTC, datetime

import pytest

from tests.integration.test_billing import _one_invoice

SECRET = "whsec_test_outletpool"


@pytest.fixture
def ctx(app):
    app.config["STRIPE_WEBHOOK_SECRET"] = SECRET
    with app.app_context():
        yield


def signed(payload: bytes, secret: str = SECRET) -> str:
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def event(event_id: str, kind: str, invoice, *, status="succeeded", intent="pi_test_1") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": {
        "id": intent, "object": "payment_intent", "amount": invoice.gross_fen,
        "amount_received": invoice.gross_fen if status == "succeeded" else 0, "currency": "cny",
        "status": status, "created": int(datetime(2027, 1, 5, tzinfo=UTC).timestamp()),
        "metadata": {"invoice_id": str(invoice.id)}}}}).encode()


def post(client, payload, signature):
    return client.post("/webhooks/stripe", data=payload, content_type="application/json",
                       headers={"Stripe-Signature": signature})


def test_forged_signature_is_refused_and_changes_nothing(ctx, app, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Invoice, Payment, ProviderEvent

    invoice, _provider, _maker = _one_invoice(shared_outlet, make_party)
    payload = event("evt_forged", "payment_intent.succeeded", invoice)
    client = app.test_client()
    for signature in (signed(payload, "whsec_wrong"), "t=1,v1=deadbeef", ""):
        response = post(client, payload, signature)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_signature"
    tampered = payload.replace(b'"amount_received": ', b'"amount_received": 1')
    assert post(client, tampered, signed(payload)).status_code == 400
    db.session.expire_all()
    assert db.session.execute(db.select(Payment)).first() is None
    assert db.session.execute(db.select(ProviderEvent)).first() is None
    assert db.session.get(Invoice, invoice.id).status.value == "open"


def test_replayed_and_out_of_order_events_leave_one_payment(ctx, app, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Invoice, Payment
    from services import ledger

    invoice, _provider, maker = _one_invoice(shared_outlet, make_party)
    succeeded = event("evt_ok", "payment_intent.succeeded", invoice)
    others = [event("evt_created", "payment_intent.processing", invoice, status="processing"),
              event("evt_failed", "payment_intent.payment_failed", invoice, status="requires_payment_method"),
              event("evt_ok_again", "payment_intent.succeeded", invoice)]  # same intent, new id
    deliveries = [succeeded] * 10 + others * 2
    random.Random(7).shuffle(deliveries)
    client = app.test_client()
    for payload in deliveries:
        assert post(client, payload, signed(payload)).status_code == 200
    db.session.expire_all()
    payments = db.session.execute(db.select(Payment)).scalars().all()
    assert [(p.provider, p.external_id, p.amount_fen) for p in payments] == [
        ("stripe", "pi_test_1", invoice.gross_fen)]
    assert db.session.get(Invoice, invoice.id).status.value == "paid"
    assert ledger.balance_of(maker.organization_id) == 0
    whole, unbalanced = ledger.totals()
    assert whole == 0 and unbalanced == []


def test_card_option_is_hidden_without_keys(ctx, app):
    from services.payments import providers

    app.config["STRIPE_SECRET_KEY"] = None
    assert [p.name for p in providers()] == ["bank_transfer"]
    app.config["STRIPE_SECRET_KEY"] = "sk_test_x"
    assert [p.name for p in providers()] == ["bank_transfer", "stripe"]


def test_stripe_js_is_admitted_by_the_csp_only_when_stripe_is_configured(app, tmp_path):
    from app import create_app

    plain = app.test_client().get("/healthz").headers["Content-Security-Policy"]
    assert "js.stripe.com" not in plain
    with_stripe = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'csp.db'}",
                             STRIPE_PUBLISHABLE_KEY="pk_test_csp")
    policy = with_stripe.test_client().get("/healthz").headers["Content-Security-Policy"]
    assert "script-src 'self' https://js.stripe.com" in policy
    assert "frame-src https://js.stripe.com" in policy
