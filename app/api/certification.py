"""Certification workflow API: schemes, certifiers' accreditation and declared relationships,
and applications from submission to decision."""

from __future__ import annotations

from pathlib import Path

import marshmallow as ma
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.api.common import BEARER, Blueprint, actor, authenticated, file_answer
from app.api.outlets import EvidenceSchema, send_evidence
from app.api.schemas import VerificationInSchema
from app.extensions import db
from app.models import ApplicationPurpose, ApplicationStatus, FindingGrade, OutletType
from services import certification, certification_schemes, certifiers, organizations
from services.certifiers import china_today
from services.errors import NotFound, ValidationFailed

blp = Blueprint("api_certification", __name__, url_prefix="/api/v1",
                description="Certification workflow")
Str, Int, Bool = ma.fields.String, ma.fields.Integer, ma.fields.Boolean
Date, When = ma.fields.Date, ma.fields.AwareDateTime


# --- schemas --------------------------------------------------------------------------------

class SchemeSchema(ma.Schema):
    id = Int()
    code = Str()
    version = Str()
    name_zh = Str()
    name_en = Str()
    issuing_body = Str()
    outlet_types = ma.fields.List(Str())
    checklist_items = ma.fields.List(Int())
    validity_months = Int()
    surveillance_interval_months = Int()
    active = Bool()
    created_at = When()


class SchemeInSchema(ma.Schema):
    code = Str()
    version = Str()
    name_zh = Str()
    name_en = Str()
    issuing_body = Str()
    outlet_types = ma.fields.List(Str(metadata={"enum": [t.value for t in OutletType]}))
    checklist_items = ma.fields.List(Int(strict=True), metadata={"description": "Item numbers 1-24"})
    validity_months = Int(strict=True, metadata={"description": "Default 36"})
    surveillance_interval_months = Int(strict=True, metadata={"description": "Default 12"})
    active = Bool(metadata={"description": "false deactivates: no new applications"})


class SchemeQuerySchema(ma.Schema):
    active = Bool(load_default=None)
    outlet_type = Str(metadata={"enum": [t.value for t in OutletType]})


class AccreditationSchema(ma.Schema):
    organization_id = Int()
    number = Str()
    accrediting_body = Str()
    valid_until = Date()
    status = Str(attribute="status.value")
    reason = Str(allow_none=True)
    verified_at = When(allow_none=True)
    updated_at = When()


class AccreditationInSchema(ma.Schema):
    number = Str(required=True)
    accrediting_body = Str(required=True)
    valid_until = Date(required=True)


class AccreditationQueueItemSchema(AccreditationSchema):
    organization_name = Str()
    organization_verified = Bool()


class AccreditationQuerySchema(ma.Schema):
    status = Str(load_default="pending")


class CertifierSchema(ma.Schema):
    id = Int()
    legal_name = Str()
    english_name = Str(allow_none=True)
    accreditation_number = Str()
    accrediting_body = Str()
    accreditation_valid_until = Date()


class RelationshipSchema(ma.Schema):
    id = Int()
    related_organization_id = Int()
    related_organization_name = Str()
    nature = Str()
    declared_at = When()


class RelationshipInSchema(ma.Schema):
    credit_code = Str(metadata={"description": "The related organization's credit code"})
    related_organization_id = Int(strict=True)
    nature = Str(required=True, metadata={"description": "Shareholding, consulting, ..."})


class FindingSchema(ma.Schema):
    item_number = Int()
    grade = Str(attribute="grade.value", metadata={"enum": [g.value for g in FindingGrade]})
    note = Str(allow_none=True)
    evidence_id = Int(allow_none=True)
    corrective_action = Str(allow_none=True)
    corrective_evidence_id = Int(allow_none=True)
    responded_at = When(allow_none=True)
    closed_at = When(allow_none=True)
    closure_note = Str(allow_none=True)


class ApplicationSchema(ma.Schema):
    id = Int()
    outlet_id = Int()
    outlet_name = Str()
    provider_id = Int()
    provider_name = Str()
    certifier_id = Int()
    certifier_name = Str()
    scheme_id = Int()
    purpose = Str(metadata={"enum": [p.value for p in ApplicationPurpose]})
    certificate_id = Int(allow_none=True)
    status = Str(metadata={"enum": [s.value for s in ApplicationStatus]})
    audit_date = Date(allow_none=True)
    auditor_id = Int(allow_none=True)
    decision_reason = Str(allow_none=True)
    submitted_at = When()
    last_action_at = When()
    flagged_at = When(allow_none=True)
    decided_at = When(allow_none=True)
    deadline = When(allow_none=True, metadata={"description": "When it counts as overdue"})
    waiting_on = Str(allow_none=True, metadata={"enum": ["provider", "certifier"]})
    audited_items = ma.fields.List(Int())
    findings = ma.fields.List(ma.fields.Nested(FindingSchema))
    your_side = Str(allow_none=True, metadata={"enum": ["provider", "certifier"]})
    your_actions = ma.fields.List(Str(), metadata={"description": "Steps the caller may take now"})


class ApplicationQuerySchema(ma.Schema):
    organization_id = Int(metadata={"description": "One of your organizations (default: all)"})
    status = Str(metadata={"enum": [s.value for s in ApplicationStatus]})


class ApplyInSchema(ma.Schema):
    outlet_id = Int(required=True, strict=True)
    scheme_id = Int(strict=True, metadata={"description": "Defaults to the certificate's scheme"})
    certifier_id = Int(strict=True, metadata={"description": "From GET /certifiers"})
    purpose = Str(load_default="initial", metadata={"enum": [p.value for p in ApplicationPurpose]})
    certificate_id = Int(strict=True, allow_none=True,
                         metadata={"description": "For surveillance and follow-up audits"})


class StepReasonSchema(ma.Schema):
    reason = Str(allow_none=True)


class AuditScheduleSchema(ma.Schema):
    audit_date = Date(required=True)
    auditor_id = Int(required=True, strict=True, metadata={"description": "A member's user id"})


class FindingInSchema(ma.Schema):
    grade = Str(required=True, metadata={"enum": [g.value for g in FindingGrade]})
    note = Str(allow_none=True)
    evidence_id = Int(strict=True, allow_none=True)


class FindingEntrySchema(FindingInSchema):
    item_number = Int(required=True, strict=True)


class FindingsInSchema(ma.Schema):
    findings = ma.fields.List(ma.fields.Nested(FindingEntrySchema), required=True)


class ResponseInSchema(ma.Schema):
    corrective_action = Str(required=True)
    evidence_id = Int(strict=True, allow_none=True)


class FindingVerificationSchema(ma.Schema):
    outcome = Str(required=True, metadata={"enum": ["close", "reopen"]})
    note = Str(allow_none=True)


class ApplicationDecisionSchema(ma.Schema):
    decision = Str(required=True, metadata={"enum": ["certify", "refuse"]})
    reason = Str(allow_none=True)


class ApplicationEvidenceFormSchema(ma.Schema):
    checklist_item = Int(allow_none=True)


class ApplicationEvidenceFileSchema(ma.Schema):
    file = ma.fields.Raw(metadata={"type": "string", "format": "binary"}, required=True)


class ApplicationEventSchema(ma.Schema):
    occurred_at = When()
    action = Str()
    actor = Str(attribute="actor_label")
    data = ma.fields.Dict()


# --- helpers --------------------------------------------------------------------------------

def present(application, caller) -> dict:
    side = certification.side_of(caller, application)
    unanswered = certification.unanswered_nonconformities(application.findings)
    waiting = certification.waiting_on(application.status, len(unanswered))
    return {
        **{name: getattr(application, name) for name in (
            "id", "outlet_id", "provider_id", "certifier_id", "scheme_id", "certificate_id",
            "audit_date", "auditor_id", "decision_reason", "submitted_at", "last_action_at",
            "flagged_at", "decided_at", "findings")},
        "outlet_name": application.outlet.name,
        "provider_name": application.provider.legal_name,
        "certifier_name": application.certifier.legal_name,
        "purpose": application.purpose.value,
        "status": application.status.value,
        "deadline": certification.deadline_of(application, **certification.deadline_days(current_app.config)),
        "waiting_on": waiting.value if waiting else None,
        "audited_items": certification.items_for(application),
        "your_side": side.value if side else None,
        "your_actions": certification.actions_for(application.status, side),
    }


def _done(application, caller) -> dict:
    db.session.commit()
    return present(application, caller)


# --- schemes --------------------------------------------------------------------------------

@blp.route("/certification-schemes", methods=["GET"])
@blp.arguments(SchemeQuerySchema, location="query")
@blp.response(200, SchemeSchema(many=True))
def list_schemes(query):
    """Certification schemes (public): what is audited, validity and surveillance interval."""
    schemes = certification_schemes.all_schemes(active_only=bool(query.get("active")))
    if query.get("active") is False:
        schemes = [s for s in schemes if not s.active]
    if query.get("outlet_type"):
        schemes = [s for s in schemes if certification_schemes.covers(s, query["outlet_type"])]
    return schemes


@blp.route("/certification-schemes/<int:scheme_id>", methods=["GET"])
@blp.response(200, SchemeSchema)
def get_scheme(scheme_id):
    return certification_schemes.get(scheme_id)


@blp.route("/certification-schemes", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(SchemeInSchema)
@blp.response(201, SchemeSchema)
def create_scheme(body):
    """Operators: a new scheme (or a new version of one)."""
    scheme = certification_schemes.create(actor(), body)
    db.session.commit()
    return scheme


@blp.route("/certification-schemes/<int:scheme_id>", methods=["PATCH"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(SchemeInSchema)
@blp.response(200, SchemeSchema)
def update_scheme(body, scheme_id):
    """Operators: edit a scheme; `active: false` deactivates it. What a scheme in use audits
    cannot change (409): create a new version."""
    scheme = certification_schemes.update(actor(), scheme_id, body)
    db.session.commit()
    return scheme


# --- certifiers, accreditation, relationships -----------------------------------------------

@blp.route("/certifiers", methods=["GET"])
@blp.response(200, CertifierSchema(many=True))
def list_certifiers():
    """Certification bodies a provider may choose today: verified, with a verified and
    current accreditation (public)."""
    return [{"id": org.id, "legal_name": org.legal_name, "english_name": org.english_name,
             "accreditation_number": accreditation.number,
             "accrediting_body": accreditation.accrediting_body,
             "accreditation_valid_until": accreditation.valid_until}
            for org, accreditation in certifiers.accredited(china_today())]


@blp.route("/organizations/<int:organization_id>/accreditation", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, AccreditationSchema)
def get_accreditation(organization_id):
    """Your certification body's accreditation (operators: any)."""
    organization = organizations.get_visible(actor(), organization_id)
    accreditation = certifiers.accreditation_of(organization.id)
    if accreditation is None:
        raise NotFound("accreditation", organization_id)
    return accreditation


@blp.route("/organizations/<int:organization_id>/accreditation", methods=["PUT"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(AccreditationInSchema)
@blp.response(200, AccreditationSchema)
def put_accreditation(body, organization_id):
    """Certification bodies (owners, admins): record the accreditation; any change waits for
    an operator's verification again."""
    caller = actor()
    accreditation = certifiers.record_accreditation(
        caller, organizations.get_own(caller, organization_id), body)
    db.session.commit()
    return accreditation


@blp.route("/organizations/<int:organization_id>/accreditation/verification", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(VerificationInSchema)
@blp.response(200, AccreditationSchema)
def verify_accreditation(body, organization_id):
    """Operators: verify an accreditation, or reject it with a reason."""
    accreditation = certifiers.set_accreditation_verification(
        actor(), organization_id, body["status"], body.get("reason"))
    db.session.commit()
    return accreditation


@blp.route("/accreditations", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(AccreditationQuerySchema, location="query")
@blp.response(200, AccreditationQueueItemSchema(many=True))
def accreditation_queue(query):
    """Operators: accreditations by status (default pending), oldest first."""
    rows = certifiers.accreditation_queue(actor(), query["status"] or None)
    fields = ("organization_id", "number", "accrediting_body", "valid_until", "status", "reason",
              "verified_at", "updated_at")
    return [{**{name: getattr(a, name) for name in fields}, "organization_name": org.legal_name,
             "organization_verified": org.is_verified} for a, org in rows]


def _relationship_rows(relationships) -> list[dict]:
    names = certifiers.organizations_by_id(r.related_organization_id for r in relationships)
    return [{"id": r.id, "related_organization_id": r.related_organization_id,
             "related_organization_name": names[r.related_organization_id].legal_name,
             "nature": r.nature, "declared_at": r.declared_at} for r in relationships]


@blp.route("/organizations/<int:organization_id>/relationships", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, RelationshipSchema(many=True))
def list_relationships(organization_id):
    """The relationships your certification body has declared (it may not audit them)."""
    caller = actor()
    organization = organizations.get_own(caller, organization_id)
    return _relationship_rows(certifiers.relationships_of(caller, organization))


@blp.route("/organizations/<int:organization_id>/relationships", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(RelationshipInSchema)
@blp.response(201, RelationshipSchema)
def declare_relationship(body, organization_id):
    """Declare a tie with an organization (by credit code or id): a conflict of interest."""
    caller = actor()
    relationship = certifiers.declare_relationship(
        caller, organizations.get_own(caller, organization_id), body)
    db.session.commit()
    return _relationship_rows([relationship])[0]


@blp.route("/organizations/<int:organization_id>/relationships/<int:relationship_id>",
           methods=["DELETE"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(204)
def remove_relationship(organization_id, relationship_id):
    caller = actor()
    certifiers.remove_relationship(caller, organizations.get_own(caller, organization_id),
                                   relationship_id)
    db.session.commit()


# --- applications ---------------------------------------------------------------------------

APPLICATION = "/certification-applications/<int:application_id>"


@blp.route("/certification-applications", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ApplicationQuerySchema, location="query")
@blp.response(200, ApplicationSchema(many=True))
def list_applications(query):
    """Applications your organizations made (providers) or received (certifiers)."""
    caller = actor()
    return [present(a, caller) for a in certification.list_for(
        caller, query.get("organization_id"), status=query.get("status"))]


@blp.route("/certification-applications", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ApplyInSchema)
@blp.response(201, ApplicationSchema)
def apply(body):
    """Providers: apply for certification of a listed outlet under an active scheme covering
    its type, with an accredited certification body free of conflict of interest."""
    caller = actor()
    return _done(certification.apply(caller, body), caller)


@blp.route(APPLICATION, methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, ApplicationSchema)
def get_application(application_id):
    caller = actor()
    return present(certification.get_visible(caller, application_id), caller)


@blp.route(APPLICATION + "/history", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, ApplicationEventSchema(many=True))
def application_history(application_id):
    """Every step taken, oldest first, from the audit log."""
    return certification.history(certification.get_visible(actor(), application_id))


@blp.route(APPLICATION + "/accept", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, ApplicationSchema)
def accept(application_id):
    caller = actor()
    return _done(certification.accept(caller, application_id), caller)


@blp.route(APPLICATION + "/decline", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(StepReasonSchema)
@blp.response(200, ApplicationSchema)
def decline(body, application_id):
    """Certifiers: decline, saying why (required)."""
    caller = actor()
    return _done(certification.decline(caller, application_id, body.get("reason")), caller)


@blp.route(APPLICATION + "/withdraw", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(StepReasonSchema)
@blp.response(200, ApplicationSchema)
def withdraw(body, application_id):
    """Providers: withdraw an open application."""
    caller = actor()
    return _done(certification.withdraw(caller, application_id, body.get("reason")), caller)


@blp.route(APPLICATION + "/audit", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(AuditScheduleSchema)
@blp.response(200, ApplicationSchema)
def schedule_audit(body, application_id):
    """Certifiers: schedule (or move) the on-site audit; the auditor is one of your members."""
    caller = actor()
    return _done(certification.schedule_audit(caller, application_id, body["audit_date"],
                                              body["auditor_id"]), caller)


@blp.route(APPLICATION + "/findings", methods=["PUT"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(FindingsInSchema)
@blp.response(200, ApplicationSchema)
def record_findings(body, application_id):
    """Certifiers: record findings for several items at once (from the audit date on)."""
    caller = actor()
    return _done(certification.record_findings(caller, application_id, body["findings"]), caller)


@blp.route(APPLICATION + "/findings/<int:item_number>", methods=["PUT"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(FindingInSchema)
@blp.response(200, ApplicationSchema)
def record_finding(body, application_id, item_number):
    """Certifiers: record the finding on one item: conforms, minor or major (with a note)."""
    caller = actor()
    return _done(certification.record_findings(
        caller, application_id, [{**body, "item_number": item_number}]), caller)


@blp.route(APPLICATION + "/audit/complete", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, ApplicationSchema)
def complete_audit(application_id):
    """Certifiers: close the audit report once every audited item has a finding."""
    caller = actor()
    return _done(certification.complete_audit(caller, application_id), caller)


@blp.route(APPLICATION + "/findings/<int:item_number>/response", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ResponseInSchema)
@blp.response(200, ApplicationSchema)
def respond(body, application_id, item_number):
    """Providers: answer a nonconformity with the corrective action and evidence (required
    for a major one; upload it first with POST .../evidence)."""
    caller = actor()
    return _done(certification.respond(caller, application_id, item_number,
                                       body["corrective_action"], body.get("evidence_id")), caller)


@blp.route(APPLICATION + "/findings/<int:item_number>/verification", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(FindingVerificationSchema)
@blp.response(200, ApplicationSchema)
def verify_finding(body, application_id, item_number):
    """Certifiers: close an answered nonconformity, or reopen it saying what is missing."""
    caller = actor()
    return _done(certification.verify_finding(caller, application_id, item_number,
                                               body["outcome"], body.get("note")), caller)


@blp.route(APPLICATION + "/decision", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ApplicationDecisionSchema)
@blp.response(200, ApplicationSchema)
def decide(body, application_id):
    """Certifiers: certify (every nonconformity closed) or refuse with reasons."""
    caller = actor()
    return _done(certification.decide(caller, application_id, body["decision"],
                                      body.get("reason")), caller)


@blp.route(APPLICATION + "/evidence", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ApplicationEvidenceFormSchema, location="form")
@blp.arguments(ApplicationEvidenceFileSchema, location="files")
@blp.response(201, EvidenceSchema)
def upload_evidence(form, files, application_id):
    """The certifier's audit evidence (audit scheduled) or the provider's corrective evidence
    (audited); returns the evidence id to cite in a finding or a response."""
    caller = actor()
    upload = files["file"]
    if not hasattr(upload, "read"):
        raise ValidationFailed(_l("A file is required."), {"file": [_l("is required")]})
    item = certification.attach_evidence(
        caller, application_id, upload.read(), upload.filename,
        storage_root=Path(current_app.config["UPLOAD_ROOT"]),
        max_bytes=current_app.config["EVIDENCE_MAX_BYTES"],
        checklist_item=form.get("checklist_item"))
    db.session.commit()
    return item


@blp.route(APPLICATION + "/evidence/<int:evidence_id>/file", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, responses={"200": file_answer(
    "The evidence file", "image/jpeg", "image/png", "image/webp", "application/pdf")})
def download_evidence(application_id, evidence_id):
    """Evidence of the application's outlet, for the provider and the assigned certifier."""
    return send_evidence(certification.get_evidence(actor(), application_id, evidence_id))
