"""Pages: pool (placeholder; being built)."""

from flask import Blueprint

bp = Blueprint("pool", __name__)
