"""Pages: outlets (placeholder; being built)."""

from flask import Blueprint

bp = Blueprint("outlets", __name__)
