"""Contracting API: capacity requests and their negotiation, agreements, signatures,
renewal, notice and termination. Every lookup goes through the services, which scope it by
the caller's organizations: another organization's request or agreement is 404."""

from __future__ import annotations

import marshmallow as ma
from flask import Response

from app.api.common import BEARER, Blueprint, PageQuerySchema, actor, authenticated, page_answer, page_schema
from app.api.idempotency import idempotent
from app.extensions import db
from app.models import AgreementStatus, ContractForm, RequestStatus
from services import agreements, capacity_requests, coverage_plans, sales
from services.certifiers import china_today

blp = Blueprint("api_contracts", __name__, url_prefix="/api/v1",
                description="Capacity requests, negotiation and co-building agreements")
Str, Int, Float, Bool = ma.fields.String, ma.fields.Integer, ma.fields.Float, ma.fields.Boolean
Date, When, Dict, List, Nested = (ma.fields.Date, ma.fields.AwareDateTime, ma.fields.Dict,
                                  ma.fields.List, ma.fields.Nested)

FORMS = [f.value for f in ContractForm]
ACTIONS = sorted({action for (_status, action) in capacity_requests.TRANSITIONS} - {"request",
                                                                                     "expire"})
TEXT = ma.validate.Length(max=capacity_requests.TEXT_LIMIT)


# --- input schemas (marshmallow raises on unknown fields: 422 naming them) -------------------

class RequestInSchema(ma.Schema):
    outlet_id = Int(required=True, strict=True, metadata={"description": "A listed outlet with an offer"})
    tonnes_per_year = Float(required=True, metadata={
        "description": "Tonnes per year, more than 0 and at most what the offer has free"})
    start_date = Date(required=True, metadata={
        "description": "From today (China time) and the offer's availability, within two years"})
    term_months = Int(required=True, strict=True, metadata={
        "description": "At least the offer's minimum term, at most 240"})
    form = Str(load_default=ContractForm.SHARED_USE.value, validate=ma.validate.OneOf(FORMS),
               metadata={"description": "How the manufacturer takes part"})
    message = Str(allow_none=True, validate=TEXT)


class RequestQuerySchema(PageQuerySchema):
    role = Str(validate=ma.validate.OneOf(["manufacturer", "provider"]), metadata={
        "description": "manufacturer: requests your organizations sent; provider: received"})
    status = Str(validate=ma.validate.OneOf([s.value for s in RequestStatus]))
    outlet_id = Int(validate=ma.validate.Range(min=1))


class CounterInSchema(ma.Schema):
    tonnes_per_year = Float()
    start_date = Date()
    term_months = Int(strict=True)
    annual_fee_fen = Int(strict=True, metadata={"description": "CNY fen a year"})
    handling_fee_fen_per_t = Int(strict=True, metadata={"description": "CNY fen a tonne"})
    message = Str(allow_none=True, validate=TEXT)


class ReasonInSchema(ma.Schema):
    reason = Str(allow_none=True, metadata={"description": "Required to decline or cancel"})


class PlanRequestsInSchema(ma.Schema):
    start_date = Date(allow_none=True, metadata={"description": "Default: today (China time)"})
    form = Str(load_default=ContractForm.SHARED_USE.value, validate=ma.validate.OneOf(FORMS))
    message = Str(allow_none=True, validate=TEXT)


class AgreementQuerySchema(PageQuerySchema):
    status = Str(validate=ma.validate.OneOf([s.value for s in AgreementStatus]))
    outlet_id = Int(validate=ma.validate.Range(min=1))
    organization_id = Int(validate=ma.validate.Range(min=1), metadata={
        "description": "Agreements this organization is party to"})


class SignatureInSchema(ma.Schema):
    password = Str(required=True, load_only=True, metadata={"description": "Your password, again"})
    document_sha256 = Str(required=True, validate=ma.validate.Length(max=64), metadata={
        "description": "The `document_sha256` of the version you read: it must still be the "
                       "one awaiting signatures"})


class NoticeInSchema(ma.Schema):
    reason = Str(allow_none=True)


class TerminationInSchema(ma.Schema):
    reason = Str(required=True)
    allocation_id = Int(strict=True, allow_none=True, metadata={
        "description": "End only this allocation (default: every one)"})


class PdfQuerySchema(ma.Schema):
    lang = Str(load_default="zh", validate=ma.validate.OneOf(["zh", "en"]))


# --- output schemas --------------------------------------------------------------------------

class CapacityRequestSchema(ma.Schema):
    id = Int()
    status = Str(metadata={"enum": [s.value for s in RequestStatus]})
    status_label = Str()
    outlet_id = Int()
    outlet_name = Str()
    manufacturer_id = Int()
    manufacturer_name = Str()
    provider_id = Int()
    provider_name = Str()
    coverage_plan_id = Int(allow_none=True)
    form = Str(metadata={"enum": FORMS})
    tonnes_per_year = Float()
    start_date = Date()
    term_months = Int()
    annual_fee_fen = Int(metadata={"description": "CNY fen a year"})
    handling_fee_fen_per_t = Int(metadata={"description": "CNY fen a tonne"})
    message = Str(allow_none=True)
    reason = Str(allow_none=True, metadata={"description": "Of a decline, withdrawal or cancellation"})
    respond_by = When(allow_none=True, metadata={
        "description": "While open: when it expires unless the side waited on answers"})
    waiting_on = Str(allow_none=True, metadata={"enum": ["provider", "manufacturer"]})
    last_action_at = When()
    created_at = When()
    your_side = Str(allow_none=True, metadata={"enum": ["manufacturer", "provider", "operator"]})
    actions = List(Str(metadata={"enum": ACTIONS}), metadata={
        "description": "What the caller may do now (POST .../<action> with - for _)"})
    agreement_id = Int(allow_none=True, metadata={"description": "Once accepted"})
    allocation_id = Int(allow_none=True, metadata={"description": "Once accepted"})


CapacityRequestListSchema = page_schema(CapacityRequestSchema, "CapacityRequestItems")


class SignatureSchema(ma.Schema):
    organization_id = Int()
    organization = Str()
    signer = Str()
    signed_at = When()
    ip_address = Str(allow_none=True)
    document_sha256 = Str()


class PartySchema(ma.Schema):
    organization_id = Int()
    legal_name = Str()
    role = Str(metadata={"enum": ["provider", "manufacturer"]})


class VersionSummarySchema(ma.Schema):
    version = Int()
    status = Str()
    status_label = Str()
    reason = Str(metadata={"enum": ["initial", "join", "renewal", "reissue"]})
    document_sha256 = Str()
    sign_by = When()
    in_force_at = When(allow_none=True)
    created_at = When()
    signed_by = List(Int(), metadata={"description": "Organization ids that signed"})


class VersionSchema(VersionSummarySchema):
    agreement_id = Int()
    number = Str()
    document = Dict(metadata={"description": "The frozen text every party signs"})
    signatures = List(Nested(SignatureSchema))
    integrity_problems = List(Str(), metadata={
        "description": "Empty unless the stored text or a signature does not match its hash"})


class AllocationSchema(ma.Schema):
    id = Int()
    agreement_id = Int()
    request_id = Int()
    manufacturer_id = Int()
    manufacturer_name = Str()
    form = Str(metadata={"enum": FORMS})
    tonnes_per_year = Float()
    annual_fee_fen = Int()
    handling_fee_fen_per_t = Int()
    term_months = Int()
    start_date = Date()
    end_date = Date()
    ends_on = Date(metadata={"description": "First day it no longer counts"})
    renewal_end_date = Date(allow_none=True, metadata={"description": "A renewal awaiting signatures"})
    status = Str(metadata={"enum": ["pending", "active", "expired", "terminated", "lapsed"]})
    lifecycle = Str(metadata={"enum": list(agreements.ALLOCATION_LABELS)})
    lifecycle_label = Str()
    activated_at = When(allow_none=True)
    notice_given_at = When(allow_none=True)
    end_reason = Str(allow_none=True)


class AgreementSummarySchema(ma.Schema):
    id = Int()
    number = Str()
    outlet_id = Int()
    outlet_name = Str()
    provider_id = Int()
    provider_name = Str()
    status = Str(metadata={"enum": [s.value for s in AgreementStatus]})
    status_label = Str()
    flagged_at = When(allow_none=True, metadata={
        "description": "The outlet was suspended or lost its certificate: every party must look"})
    flag_reason = Str(allow_none=True)
    version = Int(metadata={"description": "The current version: awaiting signatures, else in force"})
    version_status = Str()
    your_signature_due = Bool(metadata={"description": "Your organization still has to sign it"})
    created_at = When()
    updated_at = When()


AgreementListSchema = page_schema(AgreementSummarySchema, "AgreementItems")


class AgreementSchema(AgreementSummarySchema):
    allocations = List(Nested(AllocationSchema))
    versions = List(Nested(VersionSummarySchema))
    document = Dict(metadata={"description": "The current version's text"})
    document_sha256 = Str(metadata={"description": "Send it back to sign this text"})
    parties = List(Nested(PartySchema))
    signed = List(Nested(SignatureSchema), metadata={"description": "Who has signed the current version"})
    awaiting = List(Nested(PartySchema), metadata={"description": "Who still must sign it"})
    integrity_problems = List(Str())


class SignatureResultSchema(SignatureSchema):
    agreement_id = Int()
    version = Int()
    version_status = Str(metadata={"description": "in_force once every party has signed"})
    agreement_status = Str()


# --- presentation ----------------------------------------------------------------------------

def present_request(request, caller) -> dict:
    side = capacity_requests.side_of(caller, request)
    allocation = capacity_requests.allocation_of(request)
    is_open = request.status in capacity_requests.OPEN
    waiting = None
    if is_open:
        waiting = "provider" if request.status is RequestStatus.REQUESTED else "manufacturer"
    return {
        **{name: getattr(request, name) for name in (
            "id", "outlet_id", "manufacturer_id", "provider_id", "coverage_plan_id",
            "tonnes_per_year", "start_date", "term_months", "annual_fee_fen",
            "handling_fee_fen_per_t", "message", "reason", "last_action_at", "created_at")},
        "status": request.status.value,
        "status_label": str(capacity_requests.STATUS_LABELS[request.status]),
        "outlet_name": request.outlet.name,
        "manufacturer_name": request.manufacturer.legal_name,
        "provider_name": request.provider.legal_name,
        "form": request.form.value,
        "respond_by": request.respond_by if is_open else None,
        "waiting_on": waiting,
        "your_side": side.value if side else None,
        "actions": capacity_requests.actions_for(request.status, side),
        "agreement_id": allocation.agreement_id if allocation else None,
        "allocation_id": allocation.id if allocation else None,
    }


def _signature(signature) -> dict:
    return {"organization_id": signature.organization_id,
            "organization": signature.organization.legal_name, "signer": signature.signer_name,
            "signed_at": signature.signed_at, "ip_address": signature.ip_address,
            "document_sha256": signature.document_sha256}


def _version_summary(version) -> dict:
    return {"version": version.version, "status": version.status.value,
            "status_label": str(agreements.VERSION_LABELS[version.status]),
            "reason": version.reason, "document_sha256": version.document_sha256,
            "sign_by": version.sign_by, "in_force_at": version.in_force_at,
            "created_at": version.created_at,
            "signed_by": [s.organization_id for s in version.signatures]}


def present_version(agreement, version) -> dict:
    return {**_version_summary(version), "agreement_id": agreement.id, "number": agreement.number,
            "document": version.document,
            "signatures": [_signature(s) for s in version.signatures],
            "integrity_problems": agreements.problems_of(version)}


def _allocation(allocation, today, window: int) -> dict:
    lifecycle = agreements.lifecycle_of(allocation, today, window)
    return {**{name: getattr(allocation, name) for name in (
        "id", "agreement_id", "request_id", "manufacturer_id", "tonnes_per_year",
        "annual_fee_fen", "handling_fee_fen_per_t", "term_months", "start_date", "end_date",
        "ends_on", "renewal_end_date", "activated_at", "notice_given_at", "end_reason")},
        "manufacturer_name": allocation.manufacturer.legal_name, "form": allocation.form.value,
        "status": allocation.status.value, "lifecycle": lifecycle,
        "lifecycle_label": str(agreements.ALLOCATION_LABELS[lifecycle])}


def present_agreement_summary(agreement, caller) -> dict:
    version = agreements.current_version(agreement)
    due = (version.status.value == "pending"
           and agreements.signing_party(caller, version) is not None)
    return {**{name: getattr(agreement, name) for name in (
        "id", "number", "outlet_id", "provider_id", "flagged_at", "flag_reason", "created_at",
        "updated_at")},
        "outlet_name": agreement.outlet.name, "provider_name": agreement.provider.legal_name,
        "status": agreement.status.value,
        "status_label": str(agreements.STATUS_LABELS[agreement.status]),
        "version": version.version, "version_status": version.status.value,
        "your_signature_due": due}


def present_agreement(agreement, caller) -> dict:
    version = agreements.current_version(agreement)
    today = china_today()
    window = agreements.setting("AGREEMENT_RENEWAL_WINDOW_DAYS")
    signed = {s.organization_id for s in version.signatures}
    parties = [{"organization_id": p["id"], "legal_name": p["legal_name"], "role": p["role"]}
               for p in version.document.get("parties", [])]
    return {**present_agreement_summary(agreement, caller),
            "allocations": [_allocation(a, today, window) for a in agreement.allocations],
            "versions": [_version_summary(v) for v in agreement.versions],
            "document": version.document, "document_sha256": version.document_sha256,
            "parties": parties,
            "signed": [_signature(s) for s in version.signatures],
            "awaiting": ([p for p in parties if p["organization_id"] not in signed]
                         if version.status.value == "pending" else []),
            "integrity_problems": agreements.problems_of(version)}


def _request_done(request, caller) -> dict:
    db.session.commit()
    return present_request(request, caller)


# --- capacity requests -----------------------------------------------------------------------

REQUEST = "/capacity-requests/<int:request_id>"


@blp.route("/capacity-requests", methods=["POST"])
@authenticated
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(RequestInSchema)
@blp.response(201, CapacityRequestSchema)
@blp.alt_response(409, description="No capacity left, an open request or allocation already "
                                   "there, or the Idempotency-Key was used for another body")
def create_request(body):
    """Manufacturers: request capacity at a listed outlet's offer, at its prices.

    The provider answers within REQUEST_RESPONSE_DAYS (accept, decline with a reason, or
    counter); unanswered, the request expires."""
    caller = actor()
    request = capacity_requests.create(caller, sales.manufacturer_of(caller), body)
    return present_request(request, caller)


@blp.route("/capacity-requests", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(RequestQuerySchema, location="query")
@blp.response(200, CapacityRequestListSchema)
def list_requests(query):
    """Requests your organizations sent (manufacturer) or received (provider), latest first;
    operators see every request."""
    caller = actor()
    found, total = capacity_requests.list_for(
        caller, role=query.get("role"), status=query.get("status"), outlet_id=query.get("outlet_id"),
        page=query["page"], per_page=query["per_page"])
    return page_answer([present_request(r, caller) for r in found], total, query)


@blp.route(REQUEST, methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, CapacityRequestSchema)
def get_request(request_id):
    """One request: its terms as they stand, status, deadline and the actions open to you."""
    caller = actor()
    return present_request(capacity_requests.get_visible(caller, request_id), caller)


@blp.route(REQUEST + "/accept", methods=["POST"])
@authenticated
@idempotent
@blp.doc(security=BEARER)
@blp.response(200, CapacityRequestSchema)
@blp.alt_response(409, description="Not open for this step, or the capacity ran out")
def accept_request(request_id):
    """Providers: accept; the capacity is taken now and the agreement (or its amendment)
    awaits every party's signature. With an Idempotency-Key, a retry after a lost answer
    gets the acceptance back instead of "not open"."""
    caller = actor()
    return present_request(capacity_requests.accept(caller, request_id), caller)


@blp.route(REQUEST + "/decline", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ReasonInSchema)
@blp.response(200, CapacityRequestSchema)
def decline_request(body, request_id):
    """Providers: decline, saying why (required)."""
    caller = actor()
    return _request_done(capacity_requests.decline(caller, request_id, body.get("reason")), caller)


@blp.route(REQUEST + "/counter", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(CounterInSchema)
@blp.response(200, CapacityRequestSchema)
def counter_request(body, request_id):
    """Providers: propose other terms (tonnage, prices, start, term); fields left out keep
    their values. The manufacturer accepts the counter or withdraws."""
    caller = actor()
    return _request_done(capacity_requests.counter(caller, request_id, body), caller)


@blp.route(REQUEST + "/accept-counter", methods=["POST"])
@authenticated
@idempotent
@blp.doc(security=BEARER)
@blp.response(200, CapacityRequestSchema)
@blp.alt_response(409, description="No counter to accept, or the capacity ran out")
def accept_counter(request_id):
    """Manufacturers: accept the provider's counter; the capacity is taken now."""
    caller = actor()
    return present_request(capacity_requests.accept_counter(caller, request_id), caller)


@blp.route(REQUEST + "/withdraw", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ReasonInSchema)
@blp.response(200, CapacityRequestSchema)
def withdraw_request(body, request_id):
    """Manufacturers: withdraw an open request (a reason is optional)."""
    caller = actor()
    return _request_done(capacity_requests.withdraw(caller, request_id, body.get("reason")),
                         caller)


@blp.route(REQUEST + "/cancel", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ReasonInSchema)
@blp.response(200, CapacityRequestSchema)
def cancel_request(body, request_id):
    """Operators: cancel an open request, saying why (required)."""
    caller = actor()
    return _request_done(capacity_requests.cancel(caller, request_id, body.get("reason")), caller)


@blp.route("/manufacturers/me/coverage-plans/<int:plan_id>/requests", methods=["POST"])
@authenticated
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(PlanRequestsInSchema)
@blp.response(201, CapacityRequestListSchema)
@blp.alt_response(409, description="An outlet of the plan cannot take a request; "
                                   "`error.fields` names each, and nothing was sent")
def requests_from_plan(body, plan_id):
    """Manufacturers: one request per outlet a saved plan chose, sized to what it assigned
    there, for each offer's minimum term. All or nothing."""
    caller = actor()
    maker = sales.manufacturer_of(caller)
    plan = coverage_plans.get_for(caller, maker, plan_id)
    data = {**body, "start_date": body.get("start_date")}
    made = capacity_requests.from_plan(caller, maker, plan, data)
    return {"items": [present_request(r, caller) for r in made]}


# --- agreements ------------------------------------------------------------------------------

AGREEMENT = "/agreements/<int:agreement_id>"


@blp.route("/agreements", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(AgreementQuerySchema, location="query")
@blp.response(200, AgreementListSchema)
def list_agreements(query):
    """Agreements your organizations are party to (operators: all), latest change first."""
    caller = actor()
    found, total = agreements.list_for(
        caller, status=query.get("status"), outlet_id=query.get("outlet_id"),
        organization_id=query.get("organization_id"), page=query["page"], per_page=query["per_page"])
    return page_answer([present_agreement_summary(a, caller) for a in found], total, query)


@blp.route(AGREEMENT, methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, AgreementSchema)
def get_agreement(agreement_id):
    """One agreement: allocations with their lifecycle, versions, the current version's text
    and hash, who signed and who still must, and any integrity problem."""
    caller = actor()
    return present_agreement(agreements.get_visible(caller, agreement_id), caller)


@blp.route(AGREEMENT + "/versions/<int:number>", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, VersionSchema)
def get_version(agreement_id, number):
    """One version's full text and its signature records."""
    agreement = agreements.get_visible(actor(), agreement_id)
    return present_version(agreement, agreements.get_version(agreement, number))


@blp.route(AGREEMENT + "/versions/<int:number>/pdf", methods=["GET"])
@authenticated
@blp.arguments(PdfQuerySchema, location="query")
@blp.doc(security=BEARER, responses={"200": {
    "description": "The version as a numbered PDF with its signature records",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
def version_pdf(query, agreement_id, number):
    """One version as PDF, in Chinese (default) or English."""
    agreement = agreements.get_visible(actor(), agreement_id)
    version = agreements.get_version(agreement, number)
    response = Response(agreements.pdf_for(agreement, version, query["lang"]),
                        mimetype="application/pdf")
    filename = f"{agreement.number}-v{version.version}-{query['lang']}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route(AGREEMENT + "/signatures", methods=["POST"])
@authenticated
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(SignatureInSchema)
@blp.response(201, SignatureResultSchema)
@blp.alt_response(409, description="Nothing to sign, already signed, or the text changed "
                                   "(`document_sha256` is not the version awaiting signatures)")
@blp.alt_response(422, description="Wrong password (`fields.password`)")
def sign(body, agreement_id):
    """Owners and admins of a party: sign the version awaiting signatures, re-entering your
    password, on the text whose hash you send. The last signature brings it into force."""
    caller = actor()
    signature = agreements.sign(caller, agreement_id, password=body["password"],
                                document_sha256=body["document_sha256"])
    version = signature.version
    return {**_signature(signature), "agreement_id": agreement_id, "version": version.version,
            "version_status": version.status.value,
            "agreement_status": version.agreement.status.value}


@blp.route("/allocations/<int:allocation_id>/renewal", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(201, VersionSchema)
@blp.alt_response(409, description="Outside the renewal window, not active, notice given, "
                                   "or a renewal already awaits signatures")
def propose_renewal(allocation_id):
    """The manufacturer holding the allocation or the provider: propose renewing it for
    another term, inside the renewal window; a new version every party signs."""
    version = agreements.propose_renewal(actor(), allocation_id)
    db.session.commit()
    return present_version(version.agreement, version)


@blp.route("/allocations/<int:allocation_id>/notice", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(NoticeInSchema)
@blp.response(200, AllocationSchema)
def give_notice(body, allocation_id):
    """Either side: terminate an active allocation by notice; it ends after the notice period
    (AGREEMENT_NOTICE_DAYS) or at its end, if sooner, and counts until then."""
    allocation = agreements.give_notice(actor(), allocation_id, body.get("reason"))
    db.session.commit()
    return _allocation(allocation, china_today(),
                       agreements.setting("AGREEMENT_RENEWAL_WINDOW_DAYS"))


@blp.route(AGREEMENT + "/termination", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(TerminationInSchema)
@blp.response(200, AgreementSchema)
def terminate(body, agreement_id):
    """Operators: end one allocation, or the whole agreement, today, saying why."""
    caller = actor()
    agreement = agreements.terminate(caller, agreement_id, body["reason"],
                                     allocation_id=body.get("allocation_id"))
    db.session.commit()
    return present_agreement(agreement, caller)

