"""Certification workflow API (placeholder; being built)."""

from flask_smorest import Blueprint

blp = Blueprint("api_certification", __name__, url_prefix="/api/v1", description="Certification workflow")
