"""Coverage plans: the least-cost set of pool outlets closing a manufacturer's open obligations."""

from __future__ import annotations

import marshmallow as ma

from app.api.common import BEARER, Blueprint, PageQuerySchema, actor, authenticated, page_answer, page_schema
from app.extensions import db
from services import coverage_plans

blp = Blueprint("api_coverage_plans", __name__, url_prefix="/api/v1/manufacturers",
                description="Manufacturers: optimal coverage plans")
Int, Str, Float, Bool = ma.fields.Integer, ma.fields.String, ma.fields.Float, ma.fields.Boolean


class PlanInSchema(ma.Schema):
    as_of = ma.fields.Date(load_default=None, metadata={
        "description": "Obligations on this date (default today)"})
    certified_only = Bool(load_default=False)
    service_radius_km = Float(allow_none=True, load_default=None, metadata={
        "description": "Allow outlets outside the city within this distance of its centre; "
                       "null = same city only"})
    transport_fen_per_t_km = Float(load_default=0.0, metadata={
        "description": "Transport cost for outlets outside the city, fen per tonne-km"})
    exclude = ma.fields.List(Int(), load_default=list)
    require = ma.fields.List(Int(), load_default=list)
    budget_fen = Int(allow_none=True, load_default=None, strict=True, metadata={
        "description": "Budget cap: then maximise the obligations covered, then minimise cost"})
    storage_covers_collection = Bool(load_default=False, metadata={
        "description": "Let a centralized-storage outlet also meet its city's collection obligation"})
    time_limit_s = Float(load_default=5.0, validate=ma.validate.Range(min=0.1, max=30))
    mip_rel_gap = Float(load_default=0.005, validate=ma.validate.Range(min=0, max=0.5))


class PlanSummarySchema(ma.Schema):
    id = Int()
    manufacturer_id = Int()
    as_of = ma.fields.Date()
    rule_set = Str()
    status = Str(metadata={"enum": ["optimal", "time_limit", "infeasible"]})
    cost_fen = Int(allow_none=True)
    lower_bound_fen = Int(allow_none=True)
    gap = Float(allow_none=True, metadata={"description": "(cost - lower bound) / cost"})
    greedy_cost_fen = Int(allow_none=True, metadata={"description": "The greedy baseline's cost"})
    solve_seconds = Float(allow_none=True)
    options = ma.fields.Dict()
    created_at = ma.fields.AwareDateTime()


class PlanSchema(PlanSummarySchema):
    result = ma.fields.Dict(metadata={"description": (
        "covered, demands, greedy_covered, assignments (city by city: chosen outlet, cost share, "
        "next best alternative and its extra cost), outlets, uncoverable (with reason), model_size")})


PlanListSchema = page_schema(PlanSummarySchema, "PlanItems")


def _maker():
    from services import sales

    return sales.manufacturer_of(actor())


@blp.route("/me/coverage-plans", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(PlanInSchema)
@blp.response(201, PlanSchema)
def create_plan(body):
    """Solve a coverage plan for your open obligations (HiGHS MILP, greedy baseline beside it)."""
    plan = coverage_plans.create(actor(), _maker(), body)
    db.session.commit()
    return plan


@blp.route("/me/coverage-plans", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, PlanListSchema)
def list_plans(query):
    """Your saved plans, newest first, a page at a time."""
    items, total = coverage_plans.list_for(actor(), _maker(), page=query["page"],
                                           per_page=query["per_page"])
    return page_answer(items, total, query)


@blp.route("/me/coverage-plans/<int:plan_id>", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, PlanSchema)
def get_plan(plan_id):
    """One of your plans with its city-by-city explanation."""
    return coverage_plans.get_for(actor(), _maker(), plan_id)
