"""Incoming webhooks: /webhooks/stripe reads the raw body (the signature covers its exact
bytes), is exempt from CSRF (the signature is the authentication) and answers 400 with the
error shape when the signature does not verify."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.extensions import csrf, db
from services.payments import stripe_provider

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.route("/stripe", methods=["POST"])
@csrf.exempt
def stripe_webhook():
    payload = request.get_data(cache=False, as_text=False)
    try:
        result = stripe_provider.handle_webhook(payload, request.headers.get("Stripe-Signature"))
    except stripe_provider.InvalidWebhook as exc:
        db.session.rollback()
        return jsonify({"error": {"code": "invalid_signature", "message": exc.message,
                                  "fields": exc.fields}}), 400
    db.session.commit()
    return jsonify(result), 200
