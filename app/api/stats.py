"""National statistics of the outlet registry (public)."""

from __future__ import annotations

import marshmallow as ma

from app.api.common import Blueprint
from services import national_stats

blp = Blueprint("api_stats", __name__, url_prefix="/api/v1/stats", description="National statistics")
Int, Str, Float = ma.fields.Integer, ma.fields.String, ma.fields.Float


def _nested(schema, **kwargs):
    return ma.fields.List(ma.fields.Nested(schema), **kwargs)


class StatsQuerySchema(ma.Schema):
    province = Str(validate=ma.validate.Regexp(r"^\d{6}$", error="must be a 6-digit province code"),
                   metadata={"description": "Narrow to one province, e.g. 440000"})


class CountShareSchema(ma.Schema):
    count = Int()
    share = Float(metadata={"description": "Fraction of total_outlets (0-1)"})


class ProvinceCountSchema(CountShareSchema):
    province = Str(metadata={"description": "Province adcode"})
    name = Str()


class PrefectureCountSchema(CountShareSchema):
    prefecture = Str()
    name = Str()


class RegionCountSchema(CountShareSchema):
    region = Str()
    name_zh = Str()
    name_en = Str()


class Top10Schema(CountShareSchema):
    provinces = _nested(ProvinceCountSchema)


class ProviderCountSchema(CountShareSchema):
    provider_id = Int()
    name = Str()
    provider_type = Str(allow_none=True)


class Top20Schema(CountShareSchema):
    providers = _nested(ProviderCountSchema)


class CategoryComplianceSchema(ma.Schema):
    category = Str()
    name_zh = Str()
    name_en = Str()
    failed = Int(metadata={"description": "Assessed outlets failing at least one item of the category"})
    fail_share = Float(metadata={"description": "failed / assessed outlets"})
    fail_share_noncompliant = Float(metadata={"description": "failed / non-compliant outlets"})
    survey_fail_share_noncompliant = Float(allow_none=True)


class ScopeSchema(ma.Schema):
    province = Str(allow_none=True)
    name = Str(allow_none=True)
    counts = Str()


class CertifiedProvinceSchema(ma.Schema):
    province = Str()
    name = Str()
    outlets = Int()
    certified = Int()
    share = Float(metadata={"description": "Certified share of the province's outlets"})
    share_of_certified = Float(metadata={"description": "The province's share of all certified outlets"})


class CertifiedSchema(ma.Schema):
    outlets = Int()
    certified = Int(metadata={"description": "Outlets holding a valid third-party certificate"})
    share = Float()
    by_province = _nested(CertifiedProvinceSchema)


class NationalStatsSchema(ma.Schema):
    scope = ma.fields.Nested(ScopeSchema)
    total_outlets = Int(metadata={"description": "Outlets in the registry: every outlet not delisted"})
    listed_outlets = Int(metadata={"description": "Listed in the public pool"})
    by_status = ma.fields.Dict(keys=Str(), values=Int())
    by_type = ma.fields.Dict(keys=Str(), values=Int())
    by_establishment = ma.fields.Dict(keys=Str(), values=ma.fields.Nested(CountShareSchema))
    by_province = _nested(ProvinceCountSchema, metadata={"description": "Survey Figure 1"})
    by_region = _nested(RegionCountSchema, metadata={"description": "Survey Figure 2"})
    by_prefecture = _nested(PrefectureCountSchema,
                            metadata={"description": "Only when a province is given"})
    top10_provinces = ma.fields.Nested(Top10Schema, metadata={"description": "Survey Figure 3"})
    co_built = ma.fields.Nested(CountShareSchema)
    prefecture_regions_covered = Int()
    prefecture_regions_total = Int()
    provinces_covered = Int()
    provinces_total = Int()
    providers_total = Int()
    providers_by_type = ma.fields.Dict(keys=Str(), values=ma.fields.Dict())
    top20_providers = ma.fields.Nested(Top20Schema)
    assessed_outlets = Int(metadata={"description": "Outlets with a complete self-assessment"})
    compliant_outlets = Int()
    compliance_rate = Float(metadata={"description": "compliant / assessed, from each outlet's "
                                                     "latest complete self-assessment"})
    compliance_by_category = _nested(CategoryComplianceSchema)
    certified = ma.fields.Nested(CertifiedSchema)
    survey_2022 = ma.fields.Dict(metadata={"description": "The survey's own figures, for comparison"})


@blp.route("/national", methods=["GET"])
@blp.arguments(StatsQuerySchema, location="query")
@blp.response(200, NationalStatsSchema)
def national(query):
    """Outlets by province and region, coverage, co-building, compliance and providers.

    Counts every outlet not delisted (drafts included, such as rows of the national list
    imported by an operator); `listed_outlets` is the public pool.
    """
    return national_stats.national(query.get("province"))
