"""`@idempotent`: an API view that creates things honours the `Idempotency-Key` header.

The decorated view does not commit: this decorator does, once, after storing the answer
with the key (services.idempotency), so the action, its key and its answer are one
transaction. Without the header the view runs as usual (and is committed the same way).
"""

from __future__ import annotations

from copy import deepcopy
from functools import wraps

from flask import Response, make_response, request
from flask_login import current_user

from app.extensions import db
from services import idempotency

REPLAYED_HEADER = "Idempotent-Replayed"

PARAMETER = {
    "in": "header", "name": idempotency.HEADER, "required": False,
    "schema": {"type": "string", "maxLength": idempotency.MAX_KEY_LENGTH},
    "description": (
        "Your unique value for this request (a UUID, say). A retry with the same key and the "
        "same body answers with the first result (same status and body, header "
        f"`{REPLAYED_HEADER}: true`) and creates nothing again; the same key with another "
        "body is 409. Failed requests are not remembered. Keys are per user and kept "
        "IDEMPOTENCY_KEY_MAX_AGE_DAYS days."),
}


def idempotent(view):
    """Replay, refuse (409) or run-and-remember, per the `Idempotency-Key` header.

    Place it below `@authenticated` (the key is per user) and above flask-smorest's
    `@blp.arguments`/`@blp.response`, so it sees the request before validation and the
    serialized response after."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        raw_key = request.headers.get(idempotency.HEADER)
        begun = None
        if raw_key is not None:
            begun = idempotency.begin(current_user.id, raw_key, idempotency.fingerprint(
                request.method, request.path, request.get_data(cache=True)))
            if begun.replay is not None:
                db.session.rollback()  # nothing of this request is to be kept
                return _replay(begun.replay)
        try:
            response = make_response(view(*args, **kwargs))
        except Exception:
            db.session.rollback()  # the key row goes with the failed action
            raise
        if response.status_code >= 400:
            db.session.rollback()
            return response
        if begun is not None:
            idempotency.remember(begun.row, response.status_code, response.get_data(as_text=True))
        db.session.commit()
        return response

    wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
    manual = wrapper._apidoc.setdefault("manual_doc", {})
    manual["parameters"] = [*manual.get("parameters", []), PARAMETER]
    return wrapper


def _replay(replay: idempotency.Replay) -> Response:
    response = Response(replay.body, status=replay.status_code, mimetype="application/json")
    response.headers[REPLAYED_HEADER] = "true"
    return response
