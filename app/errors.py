"""One place that turns errors into responses: JSON under /api, a page everywhere else."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db
from services.errors import ServiceError

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_failed", 429: "too_many_requests",
    500: "internal_error", 503: "unavailable",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _stringify(value):
    """Lazy translations and nested messages become plain JSON."""
    if isinstance(value, dict):
        return {str(k): _stringify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stringify(v) for v in value]
    return str(value)


def error_body(status: int, message: str, fields: dict | None = None, code: str | None = None):
    return {"error": {"code": code or _CODES.get(status, "error"),
                      "message": str(message), "fields": _stringify(fields or {})}}


def _webargs_fields(data: dict | None) -> dict:
    """webargs nests messages by location ({"json": {...}}); clients want the fields."""
    messages = (data or {}).get("messages") or (data or {}).get("errors") or {}
    fields: dict = {}
    for location, per_field in messages.items():
        if isinstance(per_field, dict):
            for name, msgs in per_field.items():
                fields[name] = msgs
        else:
            fields[location] = per_field
    return fields


def _messages_for(status: int) -> str:
    return {
        400: _("The request could not be understood."),
        401: _("Sign in first."),
        403: _("You are not allowed to do this."),
        404: _("Not found."),
        405: _("This method is not allowed here."),
        413: _("The request is too large."),
        422: _("Some fields need correcting."),
        429: _("Too many attempts; wait a minute and try again."),
        500: _("Something went wrong on our side. It has been logged."),
    }.get(status, _("The request failed."))


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    data = getattr(error, "data", None)
    headers = (data or {}).get("headers") or {}
    if wants_json():
        message = (data or {}).get("message")
        if not message:
            message = "Invalid JSON body." if status == 400 and data else _messages_for(status)
        fields = _webargs_fields(data) if data else {}
        response = jsonify(error_body(status, message, fields))
        response.status_code = status
        response.headers.update(headers)
        if status == 401:
            response.headers.setdefault("WWW-Authenticate", 'Bearer realm="outletpool"')
        return response
    return render_template("errors/error.html", status=status,
                           message=_messages_for(status)), status, headers


def handle_service_error(error: ServiceError):
    db.session.rollback()
    if wants_json():
        return jsonify(error_body(error.status, error.message, error.fields, error.code)), error.status
    return render_template("errors/error.html", status=error.status,
                           message=str(error.message)), error.status


def handle_csrf_error(error: CSRFError):
    if wants_json():
        return jsonify(error_body(400, error.description, code="csrf_failed")), 400
    return render_template("errors/error.html", status=400,
                           message=_("The form expired or was sent from elsewhere; "
                                     "reload the page and try again.")), 400


def handle_integrity_error(error: IntegrityError):
    """A uniqueness race lost at commit (two sign-ups with one credit code): 409, not 500."""
    db.session.rollback()
    log.info("integrity conflict on %s %s: %s", request.method, request.path, error.orig)
    message = _("This conflicts with a record saved at the same moment; reload and try again.")
    if wants_json():
        return jsonify(error_body(409, message, code="conflict")), 409
    return render_template("errors/error.html", status=409, message=message), 409


def handle_out_of_range(error: Exception):
    """A number too large for the database (or text it cannot store) that no schema bounded:
    the client's value, so 422, never a 500."""
    db.session.rollback()
    log.info("value out of range on %s %s: %s", request.method, request.path, error)
    message = _("A value is out of range or not storable.")
    if wants_json():
        return jsonify(error_body(422, message)), 422
    return render_template("errors/error.html", status=422, message=message), 422


def database_unreachable(error: Exception) -> bool:
    """A lost or refused connection (server down, restarting, shutting down), not a bad query:
    no SQLSTATE, or class 08 (connection exception) / 57P (operator intervention)."""
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    return bool(getattr(error, "connection_invalidated", False)) or state is None or \
        state.startswith(("08", "57P"))


def handle_database_error(error: OperationalError | InterfaceError):
    """The database cannot be reached: 503 with Retry-After (what /healthz says too), not a
    500; the pool replaces the dead connections once it is back."""
    if not database_unreachable(error):
        if current_app.config.get("TESTING"):
            raise error
        return handle_unexpected(error)
    log.warning("database unreachable on %s %s: %s", request.method, request.path,
                str(getattr(error, "orig", error)).splitlines()[0][:200])
    try:  # before the rollback expires the signed-in user the locale is chosen from
        message = _("The database is briefly unavailable; try again in a minute.")
    except Exception:  # choosing the locale needed the database after all
        message = "The database is briefly unavailable; try again in a minute."
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the session is discarded at teardown anyway
        log.debug("rollback after a lost connection failed", exc_info=True)
    headers = {"Retry-After": "30"}
    if wants_json():
        return jsonify(error_body(503, message)), 503, headers
    try:  # the layout may need the database itself (the signed-in user, unread notices)
        page = render_template("errors/error.html", status=503, message=message)
    except Exception:
        page = f"<!doctype html><title>503</title><h1>503</h1><p>{escape(message)}</p>"
    return page, 503, headers


def handle_unexpected(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    return handle_http_exception(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(DataError, handle_out_of_range)
    app.register_error_handler(OverflowError, handle_out_of_range)
    app.register_error_handler(OperationalError, handle_database_error)
    app.register_error_handler(InterfaceError, handle_database_error)
    if not app.config.get("TESTING"):
        app.register_error_handler(Exception, handle_unexpected)
