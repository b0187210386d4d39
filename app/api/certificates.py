"""Certificates: public verification (no token), the PDF, and the certifier's status changes."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, current_app
from flask_babel import gettext as _

from app.api.common import BEARER, Blueprint, PageQuerySchema, actor, authenticated, page_answer, page_schema
from app.extensions import db, limiter
from app.models import CertificateStatus, OutletType
from services import certificates, organizations

blp = Blueprint("api_certificates", __name__, url_prefix="/api/v1", description="Certificates")
Str, Int, Date, Bool = ma.fields.String, ma.fields.Integer, ma.fields.Date, ma.fields.Boolean
STATUSES = [s.value for s in CertificateStatus]


def verify_rate_limit() -> str:
    return current_app.config.get("VERIFY_RATELIMIT", "60 per minute")


# One budget per client address for every way of looking a certificate up without signing in
# (this API, the /verify page, the PDF by code): numbers are sequential, so scraping them all
# is the abuse to slow down.
verification_limit = limiter.shared_limit(verify_rate_limit, scope="certificate-verify")


class VerifyQuerySchema(ma.Schema):
    code = Str(validate=ma.validate.Length(max=200), metadata={
        "description": "The verification code printed on the certificate (and in its QR code). "
                       "Given, the answer says whether it matches; if not, the copy may be forged."})


class PublicOutletRefSchema(ma.Schema):
    id = Int()
    name = Str()
    address = Str()
    city = Str(metadata={"description": "6-digit prefecture-level code"})
    city_name = Str(allow_none=True)
    province = Str()
    province_name = Str(allow_none=True)
    listed = Bool(metadata={"description": "Whether the outlet is listed in the pool now"})


class CertifierRefSchema(ma.Schema):
    id = Int()
    name = Str()
    english_name = Str(allow_none=True)


class SchemeRefSchema(ma.Schema):
    code = Str()
    version = Str()
    name_zh = Str()
    name_en = Str()
    issuing_body = Str()


class VerificationSchema(ma.Schema):
    number = Str()
    status = Str(metadata={"enum": STATUSES, "description": "As of today (China time)"})
    verdict = Str(metadata={"enum": [*STATUSES, "code_mismatch"], "description": (
        "The status, or `code_mismatch` when a code was given and is not this certificate's")})
    message = Str(metadata={"description": "The verdict in words, in the request's language"})
    code_checked = Bool()
    code_matches = Bool(allow_none=True)
    outlet = ma.fields.Nested(PublicOutletRefSchema)
    scope = Str(metadata={"enum": [t.value for t in OutletType]})
    issued_on = Date()
    expires_on = Date()
    next_surveillance_due = Date(allow_none=True)
    status_changed_on = Date(allow_none=True, metadata={
        "description": "When it was suspended, withdrawn or expired"})
    certifier = ma.fields.Nested(CertifierRefSchema)
    scheme = ma.fields.Nested(SchemeRefSchema)


class CertificateSchema(ma.Schema):
    """A certificate as its certifier and the outlet's provider see it."""

    id = Int()
    number = Str()
    status = ma.fields.Enum(CertificateStatus, by_value=True)
    status_reason = Str(allow_none=True)
    status_changed_at = ma.fields.AwareDateTime(allow_none=True)
    verification_code = Str()
    outlet_id = Int()
    outlet_name = Str(attribute="outlet.name")
    provider_id = Int(attribute="outlet.provider_id")
    scheme = ma.fields.Nested(SchemeRefSchema)
    certifier_id = Int()
    certifier_name = Str(attribute="certifier.legal_name")
    application_id = Int()
    scope = Str()
    issued_on = Date()
    expires_on = Date()
    next_surveillance_due = Date(allow_none=True)
    expiry_warned_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class CertificateQuerySchema(PageQuerySchema):
    status = Str(validate=ma.validate.OneOf(STATUSES))


class ReasonSchema(ma.Schema):
    reason = Str(required=True, validate=ma.validate.Length(min=1, max=certificates.REASON_MAX),
                 metadata={"description": "Why; shown to the outlet's provider"})


def verdict_message(verdict: str) -> str:
    return {
        "valid": _("This certificate is genuine and valid."),
        "suspended": _("This certificate is suspended: it is not valid at present."),
        "withdrawn": _("This certificate has been withdrawn: it is no longer valid."),
        "expired": _("This certificate has expired: it is no longer valid."),
        "code_mismatch": _("The verification code does not match this certificate: the copy "
                           "you hold may be forged. Do not rely on it."),
    }[verdict]


@blp.route("/certificates/<string:number>", methods=["GET"])
@verification_limit
@blp.arguments(VerifyQuerySchema, location="query")
@blp.response(200, VerificationSchema)
@blp.alt_response(404, description="No certificate has this number")
@blp.alt_response(429, description="Too many look-ups from this address; wait a minute")
def verify(query, number):
    """Verify a certificate: anyone, no token. Status, outlet, scope, dates, certifier, scheme."""
    view = certificates.public_view(certificates.verify(number, query.get("code")))
    return {**view, "message": verdict_message(view["verdict"])}


@blp.route("/certificates/<string:number>/pdf", methods=["GET"])
@verification_limit
@blp.arguments(VerifyQuerySchema, location="query")
@blp.doc(security=[*BEARER, {}], responses={"200": {
    "description": "The certificate as PDF (Chinese and English on one page, QR code to verify)",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
@blp.alt_response(404, description="No such certificate, or not yours and no matching code")
def download_pdf(query, number):
    """The certificate PDF: its certifier and the outlet's provider in any status (a lapsed one
    carries a banner); anyone else with the certificate's `code`, while it is valid."""
    return pdf_response(certificates.get_for_pdf(actor(), number, query.get("code")))


def pdf_response(certificate) -> Response:
    body = certificates.render_pdf(certificate, current_app.config["PUBLIC_BASE_URL"])
    response = Response(body, mimetype="application/pdf")
    # attachment: browsers' built-in PDF viewers may refuse to run under our CSP (object-src)
    response.headers["Content-Disposition"] = f'attachment; filename="{certificate.number}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/organizations/<int:organization_id>/certificates", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(CertificateQuerySchema, location="query")
@blp.response(200, page_schema(CertificateSchema, "CertificatePage"))
def list_for_organization(query, organization_id):
    """Certificates your organization issued (certifier) or holds for its outlets (provider)."""
    caller = actor()
    items, total = certificates.of_organization(
        caller, organizations.get_own(caller, organization_id), status=query.get("status"),
        page=query["page"], per_page=query["per_page"])
    return page_answer(items, total, query)


@blp.route("/certificates/<string:number>/suspend", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ReasonSchema)
@blp.response(200, CertificateSchema)
@blp.alt_response(409, description="The certificate is not valid")
def suspend(body, number):
    """Suspend a valid certificate your organization issued; the outlet loses its mark at once."""
    caller = actor()
    certificate = certificates.suspend(caller, certificates.get_issued(caller, number),
                                       body["reason"])
    db.session.commit()
    return certificate


@blp.route("/certificates/<string:number>/withdraw", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ReasonSchema)
@blp.response(200, CertificateSchema)
@blp.alt_response(409, description="The certificate is already withdrawn or expired")
def withdraw(body, number):
    """Withdraw a valid or suspended certificate your organization issued, for good."""
    caller = actor()
    certificate = certificates.withdraw(caller, certificates.get_issued(caller, number),
                                        body["reason"])
    db.session.commit()
    return certificate
