"""The co-building saving page for a manufacturer (computed on demand, off the dashboard)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from app.extensions import db
from app.models import OrgKind
from app.models.types import utcnow
from app.security import current_actor, current_membership
from app.transactions import committed
from services import cobuilding_savings, permissions
from services.certifiers import china_today
from services.errors import ServiceError

bp = Blueprint("cobuilding", __name__)

REASON_LABELS = {
    "capacity_contention": _l("Together, the available capacity is contended: sharing saves nothing "
                              "here."),
    "fewer_demands_covered_together": _l("Together, the available capacity cannot serve every "
                                         "maker's needs, so the costs are not comparable."),
    "not_opted_in": _l("Take part to see your saving: your figures are then pooled, anonymously, "
                       "with the other makers who take part."),
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
        as_of = china_today()
    saving = cobuilding_savings.saving_for_me(current_actor(), maker, as_of)
    if saving.get("opted_in") and cobuilding_savings.remember(maker, saving, utcnow()):
        db.session.commit()
    return render_template("cobuilding/index.html", maker=maker, saving=saving,
                           reason_labels=REASON_LABELS,
                           min_group=cobuilding_savings.MIN_GROUP_FOR_TOTALS)


@bp.route("/cobuilding/opt-in", methods=["POST"])
@login_required
def opt_in():
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        abort(400)
    joining = request.form.get("opt_in") == "yes"
    _done, error = committed(lambda: cobuilding_savings.set_opt_in(current_actor(), _maker(), joining),
                             catching=ServiceError)
    if error:
        flash(error.message, "error")
        return redirect(url_for("cobuilding.saving_page"))
    flash(_("You take part in co-building savings: your figures are pooled anonymously.")
          if joining else _("You no longer take part in co-building savings."), "success")
    return redirect(url_for("cobuilding.saving_page"))


@bp.route("/operator/cobuilding", methods=["GET", "POST"])
@login_required
def group_page():
    """Operators: choose a group of manufacturers and see each one alone and together."""
    actor = current_actor()
    if permissions.operator_membership(actor.user) is None:
        abort(403)
    result, error, chosen = None, None, []
    makers = cobuilding_savings.manufacturers_with_sales()
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            abort(400)
        chosen = [int(i) for i in request.form.getlist("manufacturer_ids") if i.isdigit()]
        if request.form.get("group") == "opted_in":
            chosen = cobuilding_savings.opted_in_ids()
        try:
            as_of = date.fromisoformat(request.form.get("as_of") or "")
        except ValueError:
            as_of = china_today()
        try:
            result = cobuilding_savings.saving_for_group(actor, chosen, as_of)
        except ServiceError as exc:
            error = exc.message
    return render_template("cobuilding/group.html", makers=makers, chosen=chosen, result=result,
                           opted_in=set(cobuilding_savings.opted_in_ids()),
                           error=error, reason_labels=REASON_LABELS), 422 if error else 200
