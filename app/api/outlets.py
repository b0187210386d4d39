"""Providers' outlets: create, edit, lifecycle, self-assessment, evidence, capacity offers."""

from __future__ import annotations

from pathlib import Path

import marshmallow as ma
from flask import current_app, send_file

from app.api.common import (
    BEARER,
    DIVISION_CODE,
    Blueprint,
    PageQuerySchema,
    actor,
    authenticated,
    file_answer,
    page_answer,
    page_schema,
)
from app.extensions import db
from app.models import Establishment, OutletStatus, OutletType
from services import assessments, evidence, offers, organizations, outlets
from services.errors import ValidationFailed

blp = Blueprint("api_outlets", __name__, url_prefix="/api/v1", description="Providers' outlets")
Str, Float, Int = ma.fields.String, ma.fields.Float, ma.fields.Integer


class OutletInSchema(ma.Schema):
    name = Str()
    address = Str(metadata={"description": "Detailed address; resolved to province/city/district"})
    division_code = Str(allow_none=True, metadata={"description": "6-digit adcode, overrides the address"})
    lat = Float(allow_none=True)
    lon = Float(allow_none=True)
    type = Str(metadata={"enum": [t.value for t in OutletType]})
    storage_area_m2 = Float()
    max_stored_weight_t = Float()
    annual_capacity_t = Float()
    chemistries = ma.fields.List(Str())
    safety_classes = ma.fields.List(Str(metadata={"enum": ["A", "B", "C"]}))
    facilities = Str(allow_none=True)
    opening_hours = Str(allow_none=True)
    contact_name = Str(allow_none=True)
    contact_phone = Str(allow_none=True)
    establishment = Str(metadata={"enum": [e.value for e in Establishment]})
    established_with = Str(allow_none=True, metadata={"description": "Co-building or authorizing parties"})


class OfferSchema(ma.Schema):
    capacity_t_per_year = Float(required=True)
    # strict: 10.5 fen is an error, not 10
    annual_fee_fen = Int(required=True, strict=True, metadata={"description": "CNY fen per partner per year"})
    handling_fee_fen_per_t = Int(required=True, strict=True)
    min_term_months = Int(required=True, strict=True)
    available_from = ma.fields.Date(required=True)
    available_to = ma.fields.Date(allow_none=True)


class OutletSchema(ma.Schema):
    id = Int()
    provider_id = Int()
    name = Str()
    address = Str()
    province = Str(attribute="province_code")
    city = Str(attribute="city_code")
    district = Str(attribute="district_code", allow_none=True)
    lat = Float()
    lon = Float()
    type = ma.fields.Enum(OutletType, by_value=True)
    storage_area_m2 = Float()
    max_stored_weight_t = Float()
    annual_capacity_t = Float()
    chemistries = ma.fields.List(Str())
    safety_classes = ma.fields.List(Str())
    facilities = Str(allow_none=True)
    opening_hours = Str(allow_none=True)
    contact_name = Str(allow_none=True)
    contact_phone = Str(allow_none=True)
    establishment = ma.fields.Enum(Establishment, by_value=True)
    established_with = Str(allow_none=True)
    status = ma.fields.Enum(OutletStatus, by_value=True)
    compliant = ma.fields.Boolean()
    certified = ma.fields.Boolean()
    offer = ma.fields.Nested(OfferSchema, allow_none=True)
    created_at = ma.fields.AwareDateTime()
    listed_at = ma.fields.AwareDateTime(allow_none=True)


class StatusChangeSchema(ma.Schema):
    status = Str(required=True, metadata={"enum": [s.value for s in OutletStatus]})
    reason = Str(allow_none=True, validate=ma.validate.Length(max=2000))


class AnswerSchema(ma.Schema):
    result = Str(required=True, metadata={"enum": ["pass", "fail", "na"]})
    note = Str(load_default="")


class AssessmentInSchema(ma.Schema):
    answers = ma.fields.Dict(
        keys=Str(), values=ma.fields.Nested(AnswerSchema), required=True,
        metadata={"description": 'Item number -> answer, e.g. {"1": {"result": "pass"}}'})
    complete = ma.fields.Boolean(load_default=False)


class AssessmentSchema(ma.Schema):
    id = Int()
    version = Int()
    checklist_version = Str()
    answers = ma.fields.Dict()
    completed_at = ma.fields.AwareDateTime(allow_none=True)
    passed = ma.fields.Boolean(allow_none=True)
    category_results = ma.fields.Dict(allow_none=True)


class GapItemSchema(ma.Schema):
    number = Int()
    title_zh = Str()
    title_en = Str()
    requirement_zh = Str()
    requirement_en = Str()


class GapCategorySchema(ma.Schema):
    code = Str()
    name_zh = Str()
    name_en = Str()
    applicable = Int()
    passed = Int()
    share_passed = Float(allow_none=True)
    failing = ma.fields.List(ma.fields.Nested(GapItemSchema))
    unanswered = ma.fields.List(ma.fields.Nested(GapItemSchema))


class GapReportSchema(ma.Schema):
    compliant = ma.fields.Boolean()
    assessment_version = Int(allow_none=True, attribute="assessment.version")
    categories = ma.fields.List(ma.fields.Nested(GapCategorySchema))


class EvidenceSchema(ma.Schema):
    id = Int()
    checklist_item = Int(allow_none=True)
    original_name = Str()
    content_type = Str()
    size_bytes = Int()
    sha256 = Str()
    captured_at = ma.fields.AwareDateTime(allow_none=True)
    captured_lat = Float(allow_none=True)
    captured_lon = Float(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class EvidenceUploadSchema(ma.Schema):
    checklist_item = Int(allow_none=True)


class EvidenceFileSchema(ma.Schema):
    file = ma.fields.Raw(metadata={"type": "string", "format": "binary"}, required=True)


class OwnOutletsQuerySchema(PageQuerySchema):
    status = Str(validate=ma.validate.OneOf([s.value for s in OutletStatus]))
    place = Str(validate=DIVISION_CODE,
                metadata={"description": "A province or prefecture-level city code"})
    q = Str(validate=ma.validate.Length(max=100),
            metadata={"description": "Words of the name or address, all of them"})


class OwnOutletsSchema(page_schema(OutletSchema, "OwnOutletItems")):
    by_status = ma.fields.Dict(keys=Str(), values=Int(), metadata={
        "description": "How many of the organization's outlets are in each status, whatever the filter"})


@blp.route("/organizations/<int:organization_id>/outlets", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(OwnOutletsQuerySchema, location="query")
@blp.response(200, OwnOutletsSchema)
def list_own(query, organization_id):
    """Your organization's outlets in every status, by name, a page at a time."""
    caller = actor()
    listing = outlets.of_provider(caller, organizations.get_own(caller, organization_id),
                                  status=query.get("status"), place=query.get("place"),
                                  text=query.get("q"), page=query["page"], per_page=query["per_page"])
    return page_answer(listing.items, listing.total, query,
                       by_status={s.value: n for s, n in listing.by_status.items()})


@blp.route("/organizations/<int:organization_id>/outlets", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(OutletInSchema)
@blp.response(201, OutletSchema)
def create(body, organization_id):
    """Create a draft outlet; the rule set in force checks the type limits."""
    caller = actor()
    outlet = outlets.create(caller, organizations.get_own(caller, organization_id), body)
    db.session.commit()
    return outlet


@blp.route("/outlets/<int:outlet_id>", methods=["PATCH"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(OutletInSchema)
@blp.response(200, OutletSchema)
def update(body, outlet_id):
    caller = actor()
    outlet = outlets.update(caller, outlets.get_for_provider(caller, outlet_id), body)
    db.session.commit()
    return outlet


@blp.route("/outlets/<int:outlet_id>/status", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(StatusChangeSchema)
@blp.response(200, OutletSchema)
def change_status(body, outlet_id):
    """List, suspend, delist or reopen. Listing needs a verified provider and a passing assessment."""
    caller = actor()
    outlet = outlets.change_status(caller, outlets.get_manageable(caller, outlet_id), body["status"],
                                   body.get("reason"))
    db.session.commit()
    return outlet


@blp.route("/outlets/<int:outlet_id>/assessments", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, AssessmentSchema(many=True))
def assessment_history(outlet_id):
    """Every version, newest first; the latest complete one counts."""
    return assessments.history(outlets.get_manageable(actor(), outlet_id))


@blp.route("/outlets/<int:outlet_id>/assessment", methods=["PUT"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(AssessmentInSchema)
@blp.response(200, AssessmentSchema)
def save_assessment(body, outlet_id):
    """Record answers; with `complete: true` the version is closed and compliance recomputed."""
    caller = actor()
    assessment = assessments.save(caller, outlets.get_for_provider(caller, outlet_id), body["answers"],
                                  complete=body["complete"])
    db.session.commit()
    return assessment


@blp.route("/outlets/<int:outlet_id>/gaps", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, GapReportSchema)
def gaps(outlet_id):
    """Failing items by category, with what to fix, and the share passed per category."""
    return assessments.gap_report(outlets.get_manageable(actor(), outlet_id))


@blp.route("/outlets/<int:outlet_id>/offer", methods=["PUT"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(OfferSchema)
@blp.response(200, OfferSchema)
def set_offer(body, outlet_id):
    caller = actor()
    offer = offers.set_offer(caller, outlets.get_for_provider(caller, outlet_id), body)
    db.session.commit()
    return offer


@blp.route("/outlets/<int:outlet_id>/evidence", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, EvidenceSchema(many=True))
def list_evidence(outlet_id):
    return evidence.of_outlet(outlets.get_manageable(actor(), outlet_id))


@blp.route("/outlets/<int:outlet_id>/evidence", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(EvidenceUploadSchema, location="form")
@blp.arguments(EvidenceFileSchema, location="files")
@blp.response(201, EvidenceSchema)
def upload_evidence(form, files, outlet_id):
    """Attach a photo or PDF to the outlet, or to one checklist item."""
    caller = actor()
    upload = files["file"]
    if not hasattr(upload, "read"):
        raise ValidationFailed("A file is required.", {"file": ["is required"]})
    item = evidence.add(caller, outlets.get_for_provider(caller, outlet_id), upload.read(),
                        upload.filename, storage_root=Path(current_app.config["UPLOAD_ROOT"]),
                        max_bytes=current_app.config["EVIDENCE_MAX_BYTES"],
                        checklist_item=form.get("checklist_item"))
    db.session.commit()
    return item


@blp.route("/evidence/<int:evidence_id>/file", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, responses={"200": file_answer(
    "The evidence file", "image/jpeg", "image/png", "image/webp", "application/pdf")})
def download_evidence(evidence_id):
    """The file itself, for the outlet's provider and operators only."""
    return send_evidence(evidence.get_visible(actor(), evidence_id))


def send_evidence(item):
    response = send_file(evidence.path_of(item, Path(current_app.config["UPLOAD_ROOT"])),
                         mimetype=item.content_type, download_name=item.original_name,
                         as_attachment=item.content_type == "application/pdf", max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
