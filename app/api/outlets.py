"""Providers' outlets: create, edit, lifecycle, self-assessment, evidence, capacity offers."""

from flask_smorest import Blueprint

blp = Blueprint("api_outlets", __name__, url_prefix="/api/v1", description="Providers' outlets")
