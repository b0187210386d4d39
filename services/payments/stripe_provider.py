"""Stripe, the second provider: card payments by PaymentIntent, separate charges and
transfers (the platform collects, then pays each provider its share by a Transfer in the
invoice's transfer group, keeping the platform fee).

Providers onboard a connected account (Account + AccountLink). When the webhook says a card
payment succeeded, the platform transfers the provider its share (what the payment settled,
less the invoice's platform fee, retained once per invoice) to that account: a Transfer in
the invoice's transfer group with an idempotency key derived from the payment, recorded in the
ledger as a payout. Without a connected account (or when Stripe refuses) the payout waits as
`pending`/`failed` with the reason, and `retry_payouts` (a tick job) tries again with the same
key, so a payout is never sent twice.

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
from app.models import (
    ConnectedAccount,
    Invoice,
    InvoiceStatus,
    Organization,
    Payment,
    PaymentAttempt,
    Payout,
    ProviderEvent,
)
from app.models.types import utcnow
from services import audit, invoices, ledger, permissions
from services.audit import Actor
from services.certifiers import CHINA
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from services.tick import job

NAME = "stripe"
WEBHOOK = Actor(label="webhook:stripe")


class InvalidWebhook(ValidationFailed):
    """A webhook whose signature does not verify (400; nothing changes)."""


# Parameters an emulator refuses though Stripe takes them (STRIPE_EMULATOR names it).
EMULATOR_REFUSES = {"localstripe": {"payment_intents": {"transfer_group", "description"}}}


class Unavailable(Conflict):
    """Stripe could not be reached or refused the call (409: try again later)."""


def client() -> stripe.StripeClient:
    """The library's client for the configured keys. `app.extensions["stripe_http_client"]`,
    when set, is the HTTP client it sends through (the tests record requests with it)."""
    config = current_app.config
    bases = {"api": config["STRIPE_API_BASE"]} if config.get("STRIPE_API_BASE") else {}
    return stripe.StripeClient(config["STRIPE_SECRET_KEY"], base_addresses=bases,
                               http_client=current_app.extensions.get("stripe_http_client"))


def params_for(resource: str, params: dict) -> dict:
    refused = EMULATOR_REFUSES.get(current_app.config.get("STRIPE_EMULATOR") or "", {})
    return {k: v for k, v in params.items() if k not in refused.get(resource, ())}


def payment_intent_params(invoice: Invoice) -> dict:
    return {"amount": invoice.outstanding_fen, "currency": "cny",
            "metadata": {"invoice_id": str(invoice.id), "invoice_number": invoice.number},
            "transfer_group": transfer_group(invoice), "description": invoice.number}


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
                or permissions.is_operator(actor)):
            raise PermissionDenied(_l("Only the invoiced organization pays the invoice."))
        if invoice.status is not InvoiceStatus.OPEN or invoice.outstanding_fen <= 0:
            raise Conflict(_l("Nothing is left to pay on this invoice."))
        key = idempotency_key(invoice)
        attempt = db.session.execute(select(PaymentAttempt).where(
            PaymentAttempt.provider == NAME, PaymentAttempt.idempotency_key == key)).scalar_one_or_none()
        if attempt is None:
            try:
                intent = client().v1.payment_intents.create(
                    params=params_for("payment_intents", payment_intent_params(invoice)),
                    options={"idempotency_key": key})
            except stripe.StripeError as exc:
                raise Unavailable(_l("Card payments are unavailable right now; try again later "
                                     "or pay by bank transfer.")) from exc
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
        attempt = _attempt_for(intent["id"])
        if attempt is not None and attempt.status != "succeeded":  # never undo a success
            attempt.status = intent["status"]
    return result


def _attempt_for(intent_id: str) -> PaymentAttempt | None:
    return db.session.execute(select(PaymentAttempt).where(
        PaymentAttempt.provider == NAME, PaymentAttempt.external_id == intent_id)).scalar_one_or_none()


def _succeeded(intent: dict, now: datetime) -> dict:
    invoice_id = int((intent.get("metadata") or {}).get("invoice_id") or 0)
    invoice = db.session.execute(select(Invoice).where(Invoice.id == invoice_id)
                                 .with_for_update()).scalar_one_or_none()
    if invoice is None:
        return {"ignored": "no such invoice"}
    attempt = _attempt_for(intent["id"])
    if attempt is not None:
        attempt.status = "succeeded"
    received = (datetime.fromtimestamp(intent["created"], CHINA).date() if intent.get("created")
                else now.astimezone(CHINA).date())
    payment, new = invoices.apply_payment(
        WEBHOOK, invoice, provider=NAME, external_id=intent["id"],
        amount_fen=int(intent.get("amount_received") or intent["amount"]), received_on=received,
        reference=transfer_group(invoice), now=now)
    result = {"invoice_id": invoice.id, "payment_id": payment.id, "new_payment": new}
    if new:
        result["payout"] = pay_out(payment, now).status
    return result


# --- Connect: onboarding and payouts -------------------------------------------------------------

def onboard(actor: Actor, organization_id: int, *, refresh_url: str, return_url: str) -> str:
    """Create the provider's connected account once, and an onboarding link to it (the URL the
    provider's manager is sent to)."""
    organization = db.session.get(Organization, organization_id)
    if organization is None or not permissions.membership_of(actor.user, organization_id):
        raise NotFound("organization", organization_id)
    permissions.require(actor.user, "billing.manage", organization)
    if organization.kind.value != "provider":
        raise PermissionDenied(_l("Only outlet providers receive payouts."))
    account = connected_account_of(organization_id)
    try:
        if account is None:
            params = {
                "type": "express", "email": organization.contact_email,
                "business_profile": {"name": organization.english_name or organization.legal_name},
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"organization_id": str(organization_id)},
            }
            created = client().v1.accounts.create(
                params={k: v for k, v in params.items() if v},
                options={"idempotency_key": f"outletpool-connect-{organization_id}"})
            account = ConnectedAccount(organization_id=organization_id, provider=NAME,
                                       external_id=created.id, created_at=utcnow())
            db.session.add(account)
            db.session.flush()
            audit.record(actor, "billing.connected_account_created", "organization", organization_id,
                         organization_id=organization_id, data={"account": created.id})
        link = client().v1.account_links.create(params={
            "account": account.external_id, "refresh_url": refresh_url, "return_url": return_url,
            "type": "account_onboarding"})
    except stripe.StripeError as exc:
        raise Unavailable(_l("Stripe is unavailable right now; try again later.")) from exc
    return link.url


def payout_key(payment: Payment) -> str:
    return f"outletpool-payout-{payment.id}"


def payout_amount(invoice: Invoice, payment: Payment) -> int:
    """What the payment settled of the invoice (not an over-payment, which stays to be
    refunded), less the platform fee unless an earlier payout of the invoice retained it."""
    settled = payment.amount_fen - max(0, -invoice.outstanding_fen)
    retained = db.session.execute(select(Payout.id).where(Payout.invoice_id == invoice.id,
                                                          Payout.payment_id != payment.id)).first()
    return max(0, settled - (0 if retained else invoice.platform_fee_fen))


def pay_out(payment: Payment, now: datetime | None = None) -> Payout:
    """Transfer the provider its share of a card payment (once: keyed by the payment)."""
    now = now or utcnow()
    invoice = payment.invoice
    payout = db.session.execute(select(Payout).where(Payout.payment_id == payment.id)
                                ).scalar_one_or_none()
    if payout is None:
        payout = Payout(payment_id=payment.id, invoice_id=invoice.id, organization_id=invoice.issuer_id,
                        provider=NAME, amount_fen=payout_amount(invoice, payment), status="pending",
                        created_at=now)
        db.session.add(payout)
        db.session.flush()
    if payout.status == "sent" or payout.amount_fen <= 0:
        return payout
    account = connected_account_of(invoice.issuer_id)
    if account is None:
        payout.error = "The provider has no connected Stripe account yet."
        return payout
    try:
        transfer = client().v1.transfers.create(params={
            "amount": payout.amount_fen, "currency": "cny", "destination": account.external_id,
            "transfer_group": transfer_group(invoice),
            "metadata": {"invoice_id": str(invoice.id), "payment_id": str(payment.id)},
        }, options={"idempotency_key": payout_key(payment)})
    except stripe.StripeError as exc:
        payout.status, payout.error = "failed", str(exc)[:2000]
        return payout
    payout.status, payout.external_id, payout.error = "sent", transfer.id, None
    ledger.post("payout", [(invoices.platform_organization_id(), ledger.STRIPE_BALANCE, -payout.amount_fen),
                           (invoice.issuer_id, ledger.STRIPE_PAYOUTS, payout.amount_fen)],
                on=now.astimezone(CHINA).date(), invoice_id=invoice.id, payment_id=payment.id,
                memo=f"{invoice.number} {transfer.id}")
    audit.record(WEBHOOK, "invoice.payout_sent", "invoice", invoice.id, organization_id=invoice.issuer_id,
                 data={"payout_id": payout.id, "transfer": transfer.id, "amount_fen": payout.amount_fen})
    return payout


def retry_payouts(now: datetime) -> int:
    if not PROVIDER.available():
        return 0
    waiting = db.session.execute(select(Payout).where(Payout.provider == NAME,
                                                      Payout.status.in_(("pending", "failed")))
                                 .order_by(Payout.id)).scalars().all()
    sent = 0
    for payout in waiting:
        payment = db.session.get(Payment, payout.payment_id)
        if pay_out(payment, now).status == "sent":
            sent += 1
    return sent


@job("payouts.retry")
def retry_payouts_job(now: datetime) -> int:
    return retry_payouts(now)


def refund(payment: Payment, amount_fen: int, reason: str) -> str:
    """Refund part of a card payment through Stripe; returns the Refund's id."""
    try:
        made = client().v1.refunds.create(params={
            "payment_intent": payment.external_id, "amount": amount_fen,
            "metadata": {"invoice_id": str(payment.invoice_id), "reason": reason[:500]},
        }, options={"idempotency_key": f"outletpool-refund-{payment.id}-{payment.refunded_fen}-{amount_fen}"})
    except stripe.StripeError as exc:
        raise Unavailable(_l("Stripe refused the refund or is unavailable; nothing was changed.")) from exc
    return made.id
