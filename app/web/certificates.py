"""Pages: public verification (/verify), certificates of the signed-in organization, detail with
the PDF, and the issuing certifier's suspend and withdraw forms."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from app.api.certificates import pdf_response, verdict_message, verification_limit
from app.models import CertificateStatus, OrgKind
from app.security import current_actor, current_membership
from app.transactions import SHOWN_REFUSALS, committed
from app.web.paging import requested_page
from services import certificates, organizations, permissions
from services.errors import NotFound

bp = Blueprint("certificates", __name__)
PER_PAGE = 50


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(), Length(max=certificates.REASON_MAX)],
        description=_l("Shown to the outlet's provider."))


@bp.app_template_global()
def certificate_status_label(value: str) -> str:
    return {"valid": _("Valid"), "suspended": _("Suspended"), "withdrawn": _("Withdrawn"),
            "expired": _("Expired"), "code_mismatch": _("Code does not match")}.get(value, value)


@bp.app_template_global()
def certificate_status_badge(value: str) -> str:
    return {"valid": "badge-verified", "suspended": "badge-pending"}.get(value, "badge-rejected")


@bp.route("/verify")
def verify_form():
    """The form: type a number (and the code printed beside it)."""
    number = (request.args.get("number") or "").strip()
    if number:
        code = (request.args.get("code") or "").strip()
        return redirect(url_for("certificates.verify", number=number, **({"code": code} if code else {})))
    return render_template("certificates/verify.html", view=None, number="", code="")


@bp.route("/verify/<string:number>")
@verification_limit
def verify(number: str):
    code = (request.args.get("code") or "").strip()[:200]
    try:
        view = certificates.public_view(certificates.verify(number, code))
    except NotFound:
        return render_template("certificates/verify.html", view=None, number=number, code=code,
                               not_found=True), 404
    return render_template("certificates/verify.html", view=view, number=view["number"], code=code,
                           message=verdict_message(view["verdict"]))


def _organization():
    membership = current_membership()
    if membership is None:
        abort(403)
    return organizations.get_own(current_actor(), membership.organization_id)


@bp.route("/certificates")
@login_required
def index():
    organization = _organization()
    status = request.args.get("status") or None
    if status not in (None, *[s.value for s in CertificateStatus]):
        status = None
    page = requested_page()
    items, total = certificates.of_organization(current_actor(), organization, status=status,
                                                page=page, per_page=PER_PAGE)
    acts = organization.kind is OrgKind.CERTIFIER and bool(
        permissions.can(current_actor().user, "certification.act", organization))
    return render_template("certificates/index.html", organization=organization, items=items,
                           total=total, page=page, per_page=PER_PAGE, status=status,
                           statuses=[s.value for s in CertificateStatus], acts=acts)


@bp.route("/certificates/<string:number>")
@login_required
def detail(number: str):
    actor = current_actor()
    certificate = certificates.get_visible(actor, number)
    issued_by_us = bool(permissions.membership_of(actor.user, certificate.certifier_id)
                        and permissions.can(actor.user, "certification.act", certificate.certifier))
    return render_template(
        "certificates/detail.html", certificate=certificate, issued_by_us=issued_by_us,
        suspend_form=ReasonForm(prefix="suspend"), withdraw_form=ReasonForm(prefix="withdraw"),
        verify_link=certificates.verify_url(certificate, current_app.config["PUBLIC_BASE_URL"]))


@bp.route("/certificates/<string:number>.pdf")
@verification_limit
def pdf(number: str):
    """Holders in any status; anyone else with the printed code while it is valid."""
    return pdf_response(certificates.get_for_pdf(current_actor(), number, request.args.get("code")))


def _change(number: str, action: str, done_message: str):
    form = ReasonForm(prefix=action)
    if not form.validate_on_submit():
        for message in form.reason.errors or [_("Give a reason.")]:
            flash(f"{_('Reason')}: {message}", "error")
        return redirect(url_for("certificates.detail", number=number))
    actor = current_actor()
    _done, error = committed(lambda: getattr(certificates, action)(
        actor, certificates.get_issued(actor, number), form.reason.data), catching=SHOWN_REFUSALS)
    if error:
        flash(str(error.message), "error")
    else:
        flash(done_message, "success")
    return redirect(url_for("certificates.detail", number=number))


@bp.route("/certificates/<string:number>/suspend", methods=["POST"])
@login_required
def suspend(number: str):
    return _change(number, "suspend", _("Certificate suspended; the outlet's mark is gone and its "
                                        "provider has been told."))


@bp.route("/certificates/<string:number>/withdraw", methods=["POST"])
@login_required
def withdraw(number: str):
    return _change(number, "withdraw", _("Certificate withdrawn; the outlet's mark is gone and "
                                         "its provider has been told."))
