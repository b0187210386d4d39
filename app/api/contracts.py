"""Contracting API: capacity requests and their negotiation, agreements, signatures."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_contracts", __name__, url_prefix="/api/v1",
                description="Capacity requests, negotiation and co-building agreements")
