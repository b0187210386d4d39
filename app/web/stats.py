"""Pages: national statistics of the outlet registry (public)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import format_decimal, format_percent, get_locale

from services import divisions, national_stats
from services.errors import ValidationFailed

bp = Blueprint("stats", __name__)


@bp.route("/stats")
def national():
    province = request.args.get("province") or None
    try:
        stats = national_stats.national(province)
    except ValidationFailed:
        abort(404)
    provinces = divisions.index().members("province")
    return render_template(
        "stats/national.html", s=stats, survey=stats["survey_2022"], provinces=provinces,
        province=province, zh=get_locale().language == "zh",
        pct=lambda value: format_percent(value or 0, "#,##0.0%"),
        num=lambda value: format_decimal(value or 0, "#,##0"))
