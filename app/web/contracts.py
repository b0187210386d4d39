"""Contracting pages: requests (sent, received, all), agreements, signing."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("contracts", __name__, url_prefix="/contracts")


@bp.get("/requests")
@login_required
def requests():
    return render_template("base.html")


@bp.get("/agreements")
@login_required
def agreements():
    return render_template("base.html")
