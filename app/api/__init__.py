"""The REST API under /api/v1 (flask-smorest), its authentication and its error shape."""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user
from flask_smorest import Api
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.common import ErrorEnvelopeSchema
from app.extensions import csrf
from app.security import authenticated_by_token


class OutletPoolApi(Api):
    """flask-smorest, with our error envelope documented and our own handlers (app.errors)."""

    ERROR_SCHEMA = ErrorEnvelopeSchema

    def _register_error_handlers(self):
        pass  # app.errors renders every error, JSON under /api and pages elsewhere


api = OutletPoolApi()

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _guard_api_request(json_limit: int) -> None:
    if not request.path.startswith("/api/"):
        return
    # Uploads (multipart) are bounded by MAX_CONTENT_LENGTH and the evidence limit instead.
    if (request.content_length is not None and request.content_length > json_limit
            and request.mimetype != "multipart/form-data"):
        raise RequestEntityTooLarge()
    # A browser session may call the API too (the map, the docs' "try it"), but then a
    # state change needs the CSRF token like any form; bearer tokens are not ambient.
    # (current_user first: resolving it is what records how the caller authenticated)
    if (request.method in UNSAFE_METHODS and current_user.is_authenticated
            and not authenticated_by_token()):
        csrf.protect()


def init_app(app: Flask) -> None:
    from app.api import (
        audit_log,
        auth,
        billing,
        certificates,
        certification,
        cobuilding,
        contracts,
        coverage_plans,
        docs,
        filings,
        handling,
        imports,
        manufacturers,
        notifications,
        organizations,
        outlets,
        pool,
        reference,
        stats,
    )

    api.init_app(app, spec_kwargs={"info": {"description": (
        "OutletPool: the shared pool of NEV traction-battery recycling service outlets. "
        "Authenticate with `Authorization: Bearer <token>` from `POST /api/v1/auth/tokens`. "
        'Errors share one shape: `{"error": {"code", "message", "fields"}}`.')}})
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "Personal API token"})
    for module in (auth, organizations, reference, audit_log, outlets, pool, imports, stats,
                   certification, certificates, notifications, manufacturers, coverage_plans, cobuilding,
                   contracts, filings, billing, handling):
        api.register_blueprint(module.blp)
        csrf.exempt(module.blp)
    app.register_blueprint(docs.bp)

    @app.before_request
    def _api_guard():
        _guard_api_request(app.config["API_MAX_JSON_BYTES"])
