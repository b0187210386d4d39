"""Incoming webhooks: /webhooks/stripe reads the raw body (the signature covers its exact
bytes), is exempt from CSRF (the signature is the authentication) and answers 400 with the
error shape when the signature does not verify."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.extensions import csrf
from app.transactions import committed
from services.payments import stripe_provider

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.route("/stripe", methods=["POST"])
@csrf.exempt
def stripe_webhook():
    payload = request.get_data(cache=False, as_text=False)
    result, error = committed(
        lambda: stripe_provider.handle_webhook(payload, request.headers.get("Stripe-Signature")),
        catching=stripe_provider.InvalidWebhook)
    if error:
        return jsonify({"error": {"code": "invalid_signature", "message": error.message,
                                  "fields": error.fields}}), 400
    return jsonify(result), 200
