"""Sharing pays: the co-building saving, for an operator's group and for a maker."""

from __future__ import annotations

import marshmallow as ma

from app.api.common import BEARER, Blueprint, actor, authenticated
from app.extensions import db
from services import cobuilding_savings

blp = Blueprint("api_cobuilding", __name__, url_prefix="/api/v1",
                description="Co-building: what sharing outlets saves a group of manufacturers")
Int, Str, Float, Bool = ma.fields.Integer, ma.fields.String, ma.fields.Float, ma.fields.Boolean
RULES = ("allocation_rule: proportional_to_standalone (per city where sharing saves; largest "
         "remainder in fen, parts sum to the total, never negative); fee_split_rule: an "
         "outlet's annual fee is split pro rata to tonnage among the makers it serves.")


class GroupInSchema(ma.Schema):
    manufacturer_ids = ma.fields.List(Int(), required=True,
                                      validate=ma.validate.Length(min=2, max=200))
    as_of = ma.fields.Date(load_default=None, metadata={"description": "Default today"})
    certified_only = Bool(load_default=False)
    storage_covers_collection = Bool(load_default=False)
    time_limit_s = Float(load_default=5.0, validate=ma.validate.Range(min=0.1, max=30))


class MakerRowSchema(ma.Schema):
    manufacturer_id = Int()
    name = Str()
    demands = Int()
    standalone_covered = Int()
    joint_covered = Int()
    standalone_cost_fen = Int()
    joint_cost_fen = Int(metadata={"description": "Own variable costs + fee shares in the joint plan"})
    saving_share_fen = Int()
    cost_after_sharing_fen = Int()
    settlement_fen = Int(metadata={"description": "joint cost - cost after sharing: owed to it (>0)"})
    shared_outlets = Int()
    standalone_status = Str()


class GroupSavingSchema(ma.Schema):
    as_of = Str()
    allocation_rule = Str()
    fee_split_rule = Str()
    status = Str()
    comparable = Bool()
    reason = Str(allow_none=True)
    standalone_total_fen = Int()
    joint_cost_fen = Int()
    raw_saving_fen = Int()
    total_saving_fen = Int()
    max_gap = Float(allow_none=True)
    group_size = Int()
    left_out_cities = ma.fields.List(Str(), metadata={
        "description": "Cities where together the capacity cannot serve every maker: left out of both sides"})
    makers = ma.fields.List(ma.fields.Nested(MakerRowSchema))
    shared_outlets = ma.fields.List(ma.fields.Dict())


class MySavingSchema(ma.Schema):
    as_of = Str()
    opted_in = Bool(metadata={"description": "false: no figures until the maker opts in"})
    group = Str()
    allocation_rule = Str()
    fee_split_rule = Str()
    status = Str()
    comparable = Bool()
    reason = Str(allow_none=True)
    cities = Int()
    cities_left_out = Int(metadata={
        "description": "Of those cities, where together the capacity cannot serve every maker: not compared"})
    other_makers = Int()
    standalone_cost_fen = Int()
    joint_cost_fen = Int()
    saving_fen = Int()
    cost_after_sharing_fen = Int()
    settlement_fen = Int()
    shared_outlets = Int()
    group_total_saving_fen = Int(allow_none=True, metadata={
        "description": "Only when the group has at least 3 makers"})
    group_standalone_total_fen = Int(allow_none=True)


class AsOfSchema(ma.Schema):
    as_of = ma.fields.Date(load_default=None)


@blp.route("/cobuilding/savings", methods=["POST"])
@authenticated
@blp.doc(security=BEARER, description=RULES)
@blp.arguments(GroupInSchema)
@blp.response(200, GroupSavingSchema)
def group_saving(body):
    """Operators: each chosen maker planning alone versus the group planning together."""
    ids = body.pop("manufacturer_ids")
    as_of = body.pop("as_of")
    return cobuilding_savings.saving_for_group(actor(), ids, as_of, body)


@blp.route("/manufacturers/me/cobuilding-saving", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, description=RULES)
@blp.arguments(AsOfSchema, location="query")
@blp.response(200, MySavingSchema)
def my_saving(args):
    """Your saving from sharing outlets with the other makers in your cities (anonymous)."""
    from services import sales

    a = actor()
    return cobuilding_savings.saving_for_me(a, sales.manufacturer_of(a), args.get("as_of"))


class OptInSchema(ma.Schema):
    opt_in = Bool(required=True, truthy={True}, falsy={False}, metadata={
        "description": "true: pool your figures, anonymously, with the other makers who opt in"})


@blp.route("/manufacturers/me/cobuilding-opt-in", methods=["PUT"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(OptInSchema)
@blp.response(200, OptInSchema)
def set_opt_in(body):
    """Take part (or stop taking part) in co-building savings."""
    from services import sales

    a = actor()
    maker = cobuilding_savings.set_opt_in(a, sales.manufacturer_of(a), body["opt_in"])
    db.session.commit()
    return {"opt_in": maker.cobuilding_opt_in}
