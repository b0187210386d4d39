"""Pool search and public outlet details (placeholder; being built)."""

from flask_smorest import Blueprint

blp = Blueprint("api_pool", __name__, url_prefix="/api/v1", description="Pool search, public registry")
