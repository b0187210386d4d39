"""Bulk import of outlets (placeholder; being built)."""

from flask_smorest import Blueprint

blp = Blueprint("api_imports", __name__, url_prefix="/api/v1", description="Bulk outlet import")
