"""Manufacturers' coverage-plan pages: the plans, a new plan, one plan explained, two compared."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, FloatField, StringField, SubmitField
from wtforms.validators import NumberRange, Optional

from app.models import OrgKind
from app.security import current_actor, current_membership
from app.web.forms import commit_action
from app.web.paging import requested_page
from services import coverage_plans
from services.errors import NotFound

bp = Blueprint("coverage_plans", __name__)
PER_PAGE = 50

TYPE_LABELS = {"collection": _l("Collection"), "centralized_storage": _l("Centralized storage")}
REASON_LABELS = {
    "no_outlet_of_type": _l("No outlet of that type in the city (or within the radius)"),
    "excluded": _l("Outlets exist but were excluded or are not certified"),
    "capacity_taken": _l("Capacity taken: no outlet has enough available capacity"),
    "over_budget": _l("Not within the budget"),
}
STATUS_LABELS = {"optimal": _l("Optimal"), "time_limit": _l("Time limit reached"),
                 "infeasible": _l("Infeasible")}


class PlanForm(FlaskForm):
    as_of = DateField(_l("Obligations as of"), validators=[Optional()])
    certified_only = BooleanField(_l("Certified outlets only"))
    service_radius_km = FloatField(_l("Service radius (km; empty = same city only)"),
                                   validators=[Optional(), NumberRange(0, 2000)])
    transport_yuan_per_t_km = FloatField(_l("Transport cost outside the city (yuan per tonne-km)"),
                                         validators=[Optional(), NumberRange(min=0)])
    storage_covers_collection = BooleanField(
        _l("A centralized-storage outlet also meets its city's collection obligation"))
    exclude = StringField(_l("Exclude outlets (ids, comma-separated)"))
    require = StringField(_l("Require outlets (ids, comma-separated)"))
    budget_yuan = FloatField(_l("Budget cap (yuan per year; empty = none)"),
                             validators=[Optional(), NumberRange(min=0)])
    submit = SubmitField(_l("Compute the plan"))

    def plan_data(self) -> dict:
        transport = self.transport_yuan_per_t_km.data
        budget = self.budget_yuan.data
        return {"as_of": self.as_of.data, "certified_only": self.certified_only.data,
                "service_radius_km": self.service_radius_km.data,
                "transport_fen_per_t_km": None if transport is None else transport * 100,
                "storage_covers_collection": self.storage_covers_collection.data,
                "exclude": self.exclude.data, "require": self.require.data,
                "budget_fen": None if budget is None else round(budget * 100)}


def _maker():
    from services import sales

    membership = current_membership()
    if membership is not None and membership.organization.kind is OrgKind.MANUFACTURER:
        return membership.organization
    return sales.manufacturer_of(current_actor())


def _labels() -> dict:
    return {"type_labels": TYPE_LABELS, "reason_labels": REASON_LABELS,
            "status_labels": STATUS_LABELS}


@bp.route("/coverage-plans", methods=["GET", "POST"])
@login_required
def index():
    actor, maker = current_actor(), _maker()
    form = PlanForm()
    if form.validate_on_submit():
        plan, refused = commit_action(form, lambda: coverage_plans.create(actor, maker, form.plan_data()))
        if refused is None:
            flash(_("Plan computed."), "success")
            return redirect(url_for("coverage_plans.detail", plan_id=plan.id))
    page = requested_page()
    plans, total = coverage_plans.list_for(actor, maker, page=page, per_page=PER_PAGE)
    return render_template("coverage_plans/index.html", maker=maker, form=form, plans=plans,
                           total=total, page=page, per_page=PER_PAGE,
                           **_labels()), 422 if form.errors else 200


def others_than(actor, maker, plan) -> list:
    """The maker's latest plans but this one, to compare it with."""
    return [p for p in coverage_plans.list_for(actor, maker, per_page=PER_PAGE)[0] if p.id != plan.id]


@bp.route("/coverage-plans/<int:plan_id>")
@login_required
def detail(plan_id: int):
    actor, maker = current_actor(), _maker()
    try:
        plan = coverage_plans.get_for(actor, maker, plan_id)
    except NotFound:
        abort(404)
    return render_template("coverage_plans/detail.html", maker=maker, plan=plan,
                           others=others_than(actor, maker, plan),
                           **_labels())


@bp.route("/coverage-plans/compare")
@login_required
def compare():
    actor, maker = current_actor(), _maker()
    try:
        a = coverage_plans.get_for(actor, maker, request.args.get("a", type=int) or 0)
        b = coverage_plans.get_for(actor, maker, request.args.get("b", type=int) or 0)
    except NotFound:
        abort(404)
    return render_template("coverage_plans/compare.html", maker=maker, a=a, b=b,
                           comparison=coverage_plans.compare(a, b), **_labels())
