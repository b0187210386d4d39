"""Pages: certificates (placeholder; being built)."""

from flask import Blueprint

bp = Blueprint("certificates", __name__)
