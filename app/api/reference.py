"""Public reference data: administrative divisions, survey regions, rule sets, the checklist."""

from __future__ import annotations

import marshmallow as ma

from app.api.common import DIVISION_CODE, Blueprint
from services import checklist, divisions, rule_sets
from services.errors import NotFound

blp = Blueprint("reference", __name__, url_prefix="/api/v1",
                description="Reference data: divisions, regions, rule sets, checklist")

Str = ma.fields.String
LEVELS = ("province", "prefecture", "district")


class DivisionSchema(ma.Schema):
    code = Str(metadata={"description": "6-digit administrative division code (adcode)"})
    name = Str()
    short_name = Str()
    level = Str(metadata={"enum": list(LEVELS)})
    parent_code = Str(allow_none=True)
    province_code = Str()
    prefecture_code = Str(allow_none=True)
    lat = ma.fields.Float(allow_none=True)
    lon = ma.fields.Float(allow_none=True)


class DivisionQuerySchema(ma.Schema):
    level = Str(validate=ma.validate.OneOf(LEVELS))
    province = Str(validate=DIVISION_CODE, metadata={"description": "Province code, e.g. 440000"})
    parent = Str(validate=DIVISION_CODE, metadata={"description": "Parent division code"})
    q = Str(validate=ma.validate.Length(min=1, max=60),
            metadata={"description": "Part of a name or short name, or a code prefix"})


class ResolveQuerySchema(ma.Schema):
    address = Str(required=True, validate=ma.validate.Length(min=1, max=300),
                  metadata={"description": "Free-text address, name or 6-digit code"})


class DivisionBriefSchema(ma.Schema):
    code = Str()
    name = Str()
    level = Str()


class ResolutionSchema(ma.Schema):
    province = ma.fields.Nested(DivisionBriefSchema, allow_none=True)
    prefecture = ma.fields.Nested(DivisionBriefSchema, allow_none=True)
    district = ma.fields.Nested(DivisionBriefSchema, allow_none=True)
    best = ma.fields.Nested(DivisionBriefSchema, metadata={"description": "Most specific match"})


class RegionSchema(ma.Schema):
    code = Str()
    name_zh = Str()
    name_en = Str()
    position = ma.fields.Integer()
    province_codes = ma.fields.List(Str())


class RuleSetSchema(ma.Schema):
    code = Str()
    version = Str()
    title_zh = Str()
    title_en = Str()
    effective_from = ma.fields.Date()
    effective_to = ma.fields.Date(allow_none=True)
    sources = ma.fields.List(ma.fields.Dict())
    parameters = ma.fields.Dict(metadata={"description": "The rules services evaluate"})
    notes = Str(allow_none=True)


class ChecklistItemSchema(ma.Schema):
    number = ma.fields.Integer()
    category = Str()
    title_zh = Str()
    title_en = Str()
    requirement_zh = Str()
    requirement_en = Str()
    applies_to = ma.fields.List(Str())


class ChecklistCategorySchema(ma.Schema):
    code = Str()
    position = ma.fields.Integer()
    name_zh = Str()
    name_en = Str()
    survey_fail_share = ma.fields.Float(allow_none=True)
    items = ma.fields.List(ma.fields.Nested(ChecklistItemSchema))


class ChecklistSchema(ma.Schema):
    version = Str()
    categories = ma.fields.List(ma.fields.Nested(ChecklistCategorySchema))


@blp.route("/divisions", methods=["GET"])
@blp.arguments(DivisionQuerySchema, location="query")
@blp.response(200, DivisionSchema(many=True))
def list_divisions(query):
    """Administrative divisions, filtered by level, province, parent or name."""
    return divisions.list_divisions(**query)


@blp.route("/divisions/resolve", methods=["GET"])
@blp.arguments(ResolveQuerySchema, location="query")
@blp.response(200, ResolutionSchema)
@blp.alt_response(404, description="The address matches no division, or is ambiguous")
def resolve_division(query):
    """Resolve a free-text address or name to its province, prefecture and district."""
    resolution = divisions.resolve(query["address"])
    if resolution is None:
        error = NotFound("division for address", query["address"])
        error.message = (f"no single division matches {query['address']!r}: it names none, "
                         "or several (e.g. 朝阳区); add the province and city, "
                         "e.g. 广东省深圳市南山区")
        raise error
    return resolution


@blp.route("/divisions/<code>", methods=["GET"])
@blp.response(200, DivisionSchema)
@blp.alt_response(404, description="No division has this code")
def get_division(code):
    """One division by its 6-digit code."""
    division = divisions.get(code)
    if division is None:
        raise NotFound("division", code)
    return division


@blp.route("/regions", methods=["GET"])
@blp.response(200, RegionSchema(many=True))
def list_regions():
    """The survey's regional grouping of provinces."""
    return divisions.regions()


@blp.route("/rule-sets", methods=["GET"])
@blp.response(200, RuleSetSchema(many=True))
def list_rule_sets():
    """Every rule set, oldest first, with its effective range and parameters."""
    return rule_sets.all_rule_sets()


@blp.route("/rule-sets/<code>", methods=["GET"])
@blp.response(200, RuleSetSchema)
@blp.alt_response(404, description="No rule set has this code")
def get_rule_set(code):
    """A rule set by code (its latest version)."""
    rule_set = rule_sets.get(code)
    if rule_set is None:
        raise NotFound("rule set", code)
    return rule_set


@blp.route("/checklist", methods=["GET"])
@blp.response(200, ChecklistSchema)
def get_checklist():
    """The current compliance checklist: its categories, each with its items in order."""
    version = checklist.current_version()
    if version is None:
        raise NotFound("checklist")
    by_category: dict[str, list] = {}
    for item in checklist.items(version):
        by_category.setdefault(item.category, []).append(item)
    return {"version": version, "categories": [
        {"code": c.code, "position": c.position, "name_zh": c.name_zh, "name_en": c.name_en,
         "survey_fail_share": c.survey_fail_share, "items": by_category.get(c.code, [])}
        for c in checklist.categories(version)]}
