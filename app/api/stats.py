"""National statistics (placeholder; being built)."""

from flask_smorest import Blueprint

blp = Blueprint("api_stats", __name__, url_prefix="/api/v1/stats", description="National statistics")
