"""Pages: certification (placeholder; being built)."""

from flask import Blueprint

bp = Blueprint("certification", __name__)
