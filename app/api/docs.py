"""Browsable API documentation, from the vendored Swagger UI."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.extensions import talisman
from app.security import CSP

bp = Blueprint("api_docs", __name__)

# Swagger UI sets style attributes at run time; scripts stay file-only.
DOCS_CSP = {**CSP, "style-src": ["'self'", "'unsafe-inline'"]}


@bp.route("/api/v1/docs")
@talisman(content_security_policy=DOCS_CSP)
def docs():
    return render_template("api/docs.html")
