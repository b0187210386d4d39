"""Pages: stats (placeholder; being built)."""

from flask import Blueprint

bp = Blueprint("stats", __name__)
