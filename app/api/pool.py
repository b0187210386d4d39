"""Pool search and public outlet details: the public registry, open to anyone without a token."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, jsonify
from flask_babel import gettext as _

from app.api.common import Blueprint, page_schema
from app.models import Establishment, OutletType
from app.models.types import utcnow
from services import pool_search, registry_export

blp = Blueprint("api_pool", __name__, url_prefix="/api/v1", description="Pool search, public registry")

Str, Float, Int, Bool = ma.fields.String, ma.fields.Float, ma.fields.Integer, ma.fields.Boolean
_DIVISION = ("6-digit administrative division code, or a name resolved like an address "
             "(narrowed by the parameters above it)")


class PoolFilterSchema(ma.Schema):
    """Filters shared by the search, the map points and the export."""

    province = Str(validate=ma.validate.Length(max=60),
                   metadata={"description": f"Province: {_DIVISION}", "example": "440000"})
    city = Str(validate=ma.validate.Length(max=60),
               metadata={"description": f"Prefecture-level city: {_DIVISION}", "example": "深圳"})
    district = Str(validate=ma.validate.Length(max=60),
                   metadata={"description": f"District or county: {_DIVISION}", "example": "南山区"})
    type = Str(validate=ma.validate.OneOf([t.value for t in OutletType]),
               metadata={"description": "Outlet type"})
    certified = Bool(load_default=False, metadata={
        "description": "Only outlets holding a valid third-party certificate"})
    min_capacity_t = Float(validate=ma.validate.Range(min=0, max=1e7), metadata={
        "description": "Minimum available capacity, tonnes per year"})
    max_annual_fee_fen = Int(validate=ma.validate.Range(min=0, max=10**12), metadata={
        "description": "Maximum annual fee per partner, CNY fen (100 fen = 1 yuan)"})
    q = Str(validate=ma.validate.Length(max=pool_search.MAX_QUERY_LENGTH), metadata={
        "description": "Words that must all appear in the name, address or provider's name"})
    near = Str(validate=ma.validate.Length(max=60), metadata={
        "description": "Search around a point, \"lat,lon\" in decimal degrees (WGS-84); results "
                       "carry distance_km and sort by distance unless `sort` says otherwise",
        "pattern": r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?$", "example": "22.54,114.06"})
    radius_km = Float(metadata={
        "description": f"Radius around `near` in km (default {pool_search.DEFAULT_RADIUS_KM:g}, "
                       f"at most {pool_search.MAX_RADIUS_KM:g}); needs `near`"})
    sort = Str(validate=ma.validate.OneOf(pool_search.SORTS), metadata={
        "description": "Sort key, `-` for descending; missing values last, ties by id. Default: "
                       "`distance` with `near`, else `name`"})


class PoolQuerySchema(PoolFilterSchema):
    page = Int(load_default=1, validate=ma.validate.Range(min=1, max=pool_search.MAX_PAGE))
    per_page = Int(load_default=pool_search.DEFAULT_PER_PAGE,
                   validate=ma.validate.Range(min=1, max=pool_search.MAX_PER_PAGE))


class MapQuerySchema(PoolFilterSchema):
    limit = Int(load_default=pool_search.MAP_POINT_LIMIT,
                validate=ma.validate.Range(min=1, max=pool_search.MAP_POINT_LIMIT),
                metadata={"description": "At most this many points, in the sort order"})


class ExportQuerySchema(PoolFilterSchema):
    format = Str(load_default="csv", validate=ma.validate.OneOf(list(registry_export.FORMATS)),
                 metadata={"description": "csv (UTF-8 with BOM) or xlsx"})


class PoolOutletSchema(ma.Schema):
    id = Int()
    name = Str()
    address = Str()
    province = Str(metadata={"description": "6-digit province code"})
    city = Str(metadata={"description": "6-digit prefecture-level code"})
    district = Str(allow_none=True, metadata={"description": "6-digit district code"})
    province_name = Str(allow_none=True)
    city_name = Str(allow_none=True)
    district_name = Str(allow_none=True)
    type = ma.fields.Enum(OutletType, by_value=True)
    certified = Bool()
    compliant = Bool(metadata={"description": "Latest self-assessment passes every applicable item"})
    available_capacity_t = Float(allow_none=True, metadata={"description": "Tonnes per year"})
    annual_fee_fen = Int(allow_none=True, metadata={"description": "CNY fen per partner per year"})
    handling_fee_fen_per_t = Int(allow_none=True, metadata={"description": "CNY fen per tonne"})
    lat = Float()
    lon = Float()
    distance_km = Float(metadata={"description": "Only when searching with `near`"})
    provider_id = Int()
    provider_name = Str()
    listed_at = ma.fields.AwareDateTime(allow_none=True)


PoolPageSchema = page_schema(PoolOutletSchema, "OutletPoolPage")


class MapPointsSchema(ma.Schema):
    points = ma.fields.List(ma.fields.Raw(), metadata={
        "description": "[id, lat, lon, name] per outlet, in the sort order"})
    total = Int(metadata={"description": "All matches, also those beyond `limit`"})
    truncated = Bool()


class FailedItemSchema(ma.Schema):
    number = Int()
    title_zh = Str()
    title_en = Str()


class CategoryResultSchema(ma.Schema):
    code = Str()
    name_zh = Str()
    name_en = Str()
    applicable = Int()
    passed = Int()
    failed = ma.fields.List(ma.fields.Nested(FailedItemSchema))


class ComplianceSchema(ma.Schema):
    assessed = Bool()
    version = Int(allow_none=True)
    checklist_version = Str(allow_none=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True)
    passed = Bool()
    categories = ma.fields.List(ma.fields.Nested(CategoryResultSchema))


class PublicOfferSchema(ma.Schema):
    capacity_t_per_year = Float()
    annual_fee_fen = Int()
    handling_fee_fen_per_t = Int()
    min_term_months = Int()
    available_from = ma.fields.Date()
    available_to = ma.fields.Date(allow_none=True)


class PublicOutletSchema(PoolOutletSchema):
    storage_area_m2 = Float()
    max_stored_weight_t = Float()
    annual_capacity_t = Float()
    chemistries = ma.fields.List(Str())
    safety_classes = ma.fields.List(Str())
    facilities = Str(allow_none=True)
    opening_hours = Str(allow_none=True)
    establishment = ma.fields.Enum(Establishment, by_value=True)
    compliance = ma.fields.Nested(ComplianceSchema)
    offer = ma.fields.Nested(PublicOfferSchema, allow_none=True)


_BAD_PARAMETERS = "A parameter is invalid; `error.fields` names it"


def _json_item(item: dict) -> dict:
    """An item as PoolOutletSchema would dump it. The pool search is the hottest endpoint and
    its items are flat dicts already, so it skips marshmallow's per-field dump (a third of a
    cheap search's time); test_pool_search checks the keys against the schema."""
    listed_at = item["listed_at"]
    return {**item, "type": item["type"].value,
            "listed_at": listed_at.isoformat() if listed_at is not None else None}


@blp.route("/outlets", methods=["GET"])
@blp.arguments(PoolQuerySchema, location="query")
@blp.alt_response(200, schema=PoolPageSchema, success=True, description="One page of matches")
@blp.alt_response(422, description=_BAD_PARAMETERS)
def search_outlets(query):
    """Search the pool: listed outlets by place, type, capacity, fee, text or distance.

    No token needed. One page at a time with the total count; `per_page` at most 100.
    """
    page = pool_search.search(pool_search.parse(query))
    return jsonify({"items": [_json_item(i) for i in page.items], "total": page.total,
                    "page": page.page, "per_page": page.per_page})


@blp.route("/outlets/map", methods=["GET"])
@blp.arguments(MapQuerySchema, location="query")
@blp.response(200, MapPointsSchema)
@blp.alt_response(422, description=_BAD_PARAMETERS)
def map_points(query):
    """Compact points for the map: every match up to `limit` (5,000), same filters as the search."""
    limit = query.pop("limit")
    return pool_search.map_points(pool_search.parse(query), limit)


@blp.route("/outlets/export", methods=["GET"])
@blp.arguments(ExportQuerySchema, location="query")
@blp.doc(responses={"200": {
    "description": f"The matches as a file, at most {registry_export.EXPORT_LIMIT:,} rows in the "
                   "sort order. Headers: X-Total-Count (all matches), X-Export-Truncated.",
    "content": {mime.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                for mime in registry_export.FORMATS.values()}}})
@blp.alt_response(422, description=_BAD_PARAMETERS)
def export_outlets(query):
    """Download the search result as CSV (UTF-8 with BOM, opens in Excel) or XLSX."""
    fmt = query.pop("format")
    criteria = pool_search.parse(query)
    limit = registry_export.EXPORT_LIMIT
    rows, total = pool_search.export_rows(criteria, limit)
    now = utcnow()
    about = [
        (_("Source"), _("OutletPool public registry of listed outlets")),
        (_("Generated (UTC)"), now.strftime("%Y-%m-%d %H:%M:%S")),
        (_("Filters"), "&".join(f"{k}={v}" for k, v in criteria.as_params().items()) or _("none")),
        (_("Matches"), str(total)),
        (_("Rows in this file"), str(len(rows))),
        (_("Limit"), _("Exports hold at most %(n)s rows; narrow the filters for the rest.",
                       n=f"{limit:,}")),
    ]
    body = registry_export.render(fmt, rows, with_distance=criteria.near is not None, about=about)
    response = Response(body, mimetype=registry_export.FORMATS[fmt].split(";")[0])
    if fmt == "csv":
        response.charset = "utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{registry_export.filename(fmt, now)}"')
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Export-Truncated"] = "true" if total > len(rows) else "false"
    return response


@blp.route("/outlets/<int:outlet_id>", methods=["GET"])
@blp.response(200, PublicOutletSchema)
@blp.alt_response(404, description="No listed outlet has this id")
def get_outlet(outlet_id):
    """A listed outlet as the public sees it: place, capacity, prices, compliance summary."""
    return pool_search.public_detail(outlet_id)
