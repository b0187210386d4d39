"""The co-building saving page for a manufacturer (computed on demand, off the dashboard)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from app.models import OrgKind
from app.security import current_actor, current_membership
from services import cobuilding_savings

bp = Blueprint("cobuilding", __name__)

REASON_LABELS = {
    "capacity_contention": _l("Together, the available capacity is contended: sharing saves nothing "
                              "here."),
    "fewer_demands_covered_together": _l("Together, the available capacity cannot serve every "
                                         "maker's needs, so the costs are not comparable."),
}


def _maker():
    from services import sales

    membership = current_membership()
    if membership is not None and membership.organization.kind is OrgKind.MANUFACTURER:
        return membership.organization
    return sales.manufacturer_of(current_actor())


@bp.route("/cobuilding")
@login_required
def saving_page():
    maker = _maker()
    try:
        as_of = date.fromisoformat(request.args.get("as_of") or "")
    except ValueError:
        as_of = date.today()
    saving = cobuilding_savings.saving_for_me(current_actor(), maker, as_of)
    return render_template("cobuilding/index.html", maker=maker, saving=saving,
                           reason_labels=REASON_LABELS,
                           min_group=cobuilding_savings.MIN_GROUP_FOR_TOTALS)
