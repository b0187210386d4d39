"""Stripe, the second provider: card payments by PaymentIntent, separate charges and
transfers (the platform collects, then pays each provider its share by a Transfer in the
invoice's transfer group, keeping the platform fee).

Only a verified webhook marks an invoice paid by card: the event's signature is checked on
the raw body with the webhook secret, each event id is handled once (replays are
acknowledged and ignored), and the payment itself is keyed by the PaymentIntent id, so
events arriving in any order, any number of times, record one payment. Without
STRIPE_SECRET_KEY the option is hidden.
"""

from __future__ import annotations

import json
from datetime import datetime

import stripe
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ConnectedAccount, Invoice, InvoiceStatus, PaymentAttempt, ProviderEvent
from app.models.types import utcnow
from services import invoices, permissions
from services.audit import Actor
from services.certifiers import CHINA
from services.errors import Conflict, PermissionDenied, ValidationFailed

NAME = "stripe"
WEBHOOK = Actor(label="webhook:stripe")


class InvalidWebhook(ValidationFailed):
    """A webhook whose signature does not verify (400; nothing changes)."""


def client() -> stripe.StripeClient:
    config = current_app.config
    bases = {"api": config["STRIPE_API_BASE"]} if config.get("STRIPE_API_BASE") else {}
    return stripe.StripeClient(config["STRIPE_SECRET_KEY"], base_addresses=bases)


def idempotency_key(invoice: Invoice) -> str:
    """Derived from the invoice and the amount asked: retries reuse the same intent."""
    return f"outletpool-invoice-{invoice.id}-{invoice.outstanding_fen}"


def transfer_group(invoice: Invoice) -> str:
    return f"invoice-{invoice.id}"


class StripeProvider:
    name = NAME

    def available(self) -> bool:
        return has_app_context() and bool(current_app.config.get("STRIPE_SECRET_KEY"))

    def instructions(self, invoice: Invoice) -> dict:
        return {"provider": NAME, "amount_fen": max(invoice.outstanding_fen, 0),
                "publishable_key": current_app.config.get("STRIPE_PUBLISHABLE_KEY")}

    def start(self, actor: Actor, invoice: Invoice) -> dict:
        """Create (or return) the PaymentIntent for what is left to pay."""
        if not (permissions.membership_of(actor.user, invoice.customer_id)
                or invoices.is_operator(actor)):
            raise PermissionDenied(_l("Only the invoiced organization pays the invoice."))
        if invoice.status is not InvoiceStatus.OPEN or invoice.outstanding_fen <= 0:
            raise Conflict(_l("Nothing is left to pay on this invoice."))
        key = idempotency_key(invoice)
        attempt = db.session.execute(select(PaymentAttempt).where(
            PaymentAttempt.provider == NAME, PaymentAttempt.idempotency_key == key)).scalar_one_or_none()
        if attempt is None:
            intent = client().v1.payment_intents.create(params={
                "amount": invoice.outstanding_fen, "currency": "cny",
                "metadata": {"invoice_id": str(invoice.id), "invoice_number": invoice.number},
                "transfer_group": transfer_group(invoice),
                "description": invoice.number,
            }, options={"idempotency_key": key})
            attempt = PaymentAttempt(invoice_id=invoice.id, provider=NAME, external_id=intent.id,
                                     amount_fen=invoice.outstanding_fen, idempotency_key=key,
                                     client_secret=intent.client_secret, status=intent.status,
                                     created_at=utcnow())
            db.session.add(attempt)
            db.session.flush()
        return {"provider": NAME, "payment_intent": attempt.external_id,
                "client_secret": attempt.client_secret, "amount_fen": attempt.amount_fen,
                "status": attempt.status,
                "publishable_key": current_app.config.get("STRIPE_PUBLISHABLE_KEY")}


PROVIDER = StripeProvider()


def connected_account_of(organization_id: int) -> ConnectedAccount | None:
    return db.session.execute(select(ConnectedAccount).where(
        ConnectedAccount.organization_id == organization_id, ConnectedAccount.provider == NAME)
    ).scalar_one_or_none()


# --- webhooks -----------------------------------------------------------------------------------

def verify(payload: bytes, signature: str | None) -> stripe.Event:
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise InvalidWebhook("Stripe webhooks are not configured.")
    try:
        return stripe.Webhook.construct_event(payload, signature or "", secret)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise InvalidWebhook("The webhook signature does not verify.",
                             {"Stripe-Signature": [str(exc)[:200]]}) from exc


def handle_webhook(payload: bytes, signature: str | None, now: datetime | None = None) -> dict:
    """Verify, deduplicate by event id, and apply. The caller commits."""
    now = now or utcnow()
    event = verify(payload, signature)
    try:
        with db.session.begin_nested():
            db.session.add(ProviderEvent(provider=NAME, event_id=event.id, event_type=event.type,
                                         received_at=now))
            db.session.flush()
    except IntegrityError:
        return {"event": event.id, "duplicate": True}
    result = {"event": event.id, "duplicate": False, "type": event.type}
    intent = json.loads(payload)["data"]["object"]  # verified above: plain values from here
    if event.type == "payment_intent.succeeded":
        result.update(_succeeded(intent, now))
    elif event.type in ("payment_intent.payment_failed", "payment_intent.processing",
                        "payment_intent.canceled"):
        attempt = db.session.execute(select(PaymentAttempt).where(
            PaymentAttempt.provider == NAME, PaymentAttempt.external_id == intent["id"])
        ).scalar_one_or_none()
        if attempt is not None and attempt.status != "succeeded":  # never undo a success
            attempt.status = intent["status"]
    return result


def _succeeded(intent: dict, now: datetime) -> dict:
    invoice_id = int((intent.get("metadata") or {}).get("invoice_id") or 0)
    invoice = db.session.execute(select(Invoice).where(Invoice.id == invoice_id)
                                 .with_for_update()).scalar_one_or_none()
    if invoice is None:
        return {"ignored": "no such invoice"}
    attempt = db.session.execute(select(PaymentAttempt).where(
        PaymentAttempt.provider == NAME, PaymentAttempt.external_id == intent["id"])
    ).scalar_one_or_none()
    if attempt is not None:
        attempt.status = "succeeded"
    received = (datetime.fromtimestamp(intent["created"], CHINA).date() if intent.get("created")
                else now.astimezone(CHINA).date())
    payment, new = invoices.apply_payment(
        WEBHOOK, invoice, provider=NAME, external_id=intent["id"],
        amount_fen=int(intent.get("amount_received") or intent["amount"]), received_on=received,
        reference=transfer_group(invoice), now=now)
    return {"invoice_id": invoice.id, "payment_id": payment.id, "new_payment": new}
