"""Pages: certification applications (providers and certifiers), the certifier's
accreditation and declared relationships, and the operators' schemes and accreditation queue."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import validate_csrf
from sqlalchemy import select
from wtforms import ValidationError

from app.api.outlets import send_evidence
from app.extensions import db
from app.models import (
    ApplicationPurpose,
    Certificate,
    CertificateStatus,
    FindingGrade,
    Membership,
    OrgKind,
    OutletStatus,
    User,
)
from app.security import current_actor, current_membership
from app.transactions import SHOWN_REFUSALS, committed
from app.web.forms import (
    AccreditationForm,
    ActionForm,
    ApplyForm,
    CorrectiveActionForm,
    FindingVerificationForm,
    ReasonForm,
    RelationshipForm,
    ScheduleAuditForm,
    SchemeForm,
    VerificationForm,
    apply_errors,
    commit_action,
)
from app.web.paging import requested_page
from services import (
    certification,
    certification_schemes,
    certifiers,
    checklist,
    organizations,
    outlets,
    permissions,
)
from services.certifiers import china_today
from services.errors import AuthenticationFailed, Conflict, ServiceError, ValidationFailed

bp = Blueprint("certification", __name__)

def _event_labels() -> dict:
    return {
        "apply": _("Applied"), "accept": _("Accepted"), "decline": _("Declined"),
        "withdraw": _("Withdrawn"), "schedule_audit": _("Audit scheduled"),
        "record_findings": _("Findings recorded"), "complete_audit": _("Audit completed"),
        "respond": _("Nonconformity answered"), "verify_finding": _("Corrective action verified"),
        "certify": _("Certified"), "refuse": _("Refused"),
        "flagged_overdue": _("Flagged as overdue"),
    }


@bp.app_template_global()
def application_status_label(value: str) -> str:
    return {str(k.value): str(v) for k, v in certification.STATUS_LABELS.items()}.get(value, value)


@bp.app_template_global()
def application_purpose_label(value: str) -> str:
    return {str(k.value): str(v) for k, v in certification.PURPOSE_LABELS.items()}.get(value, value)


@bp.app_template_global()
def finding_grade_label(value: str) -> str:
    return {str(k.value): str(v) for k, v in certification.GRADE_LABELS.items()}.get(value, value)


@bp.app_template_global()
def certification_event_label(value: str) -> str:
    return _event_labels().get(value, value)


def _membership():
    membership = current_membership()
    if membership is None:
        abort(403)
    return membership


def _item_title(item) -> str:
    return item.title_zh if get_locale().language == "zh" else item.title_en


def _fail(error: ServiceError) -> None:
    messages = []
    for name, value in (error.fields or {}).items():
        if isinstance(value, dict):
            for key, inner in value.items():
                text = "; ".join(str(m) for ms in (inner.values() if isinstance(inner, dict)
                                                    else [inner]) for m in ms)
                messages.append(f"{name} {key}: {text}")
        else:
            messages.append(f"{name}: " + "; ".join(str(m) for m in value))
    flash(str(error.message) + (" " + " · ".join(messages) if messages else ""), "error")


# --- lists and applying ---------------------------------------------------------------------

OUTLETS_PER_PAGE = 50


@bp.route("/certification")
@login_required
def index():
    membership = _membership()
    organization = membership.organization
    actor = current_actor()
    applications = certification.list_for(actor, organization.id)
    context = {"organization": organization, "applications": applications,
               "days": certification.deadline_days(current_app.config)}
    if organization.kind is OrgKind.PROVIDER:
        # The largest providers list hundreds of outlets: a page of them, found by name or address
        query, page = request.args.get("q", "").strip(), requested_page()
        context.update(
            outlets=outlets.of_provider(actor, organization, status=OutletStatus.LISTED, text=query,
                                        page=page, per_page=OUTLETS_PER_PAGE),
            query=query, page=page, per_page=OUTLETS_PER_PAGE,
            busy={a.outlet_id for a in applications if a.status in certification.OPEN})
    elif organization.kind is OrgKind.CERTIFIER:
        problem = certifiers.standing_of(organization, china_today())
        context["standing"] = certifiers.STANDING_MESSAGES[problem] if problem else None
        context["accreditation"] = certifiers.accreditation_of(organization.id)
    return render_template("certification/index.html", **context)


def _certificates_of(outlet_id: int) -> dict[str, Certificate]:
    rows = db.session.execute(select(Certificate).where(
        Certificate.outlet_id == outlet_id,
        Certificate.status.in_([CertificateStatus.VALID, CertificateStatus.SUSPENDED]))
        .order_by(Certificate.id)).scalars()
    return {c.status.value: c for c in rows}


@bp.route("/certification/apply/<int:outlet_id>", methods=["GET", "POST"])
@login_required
def apply(outlet_id: int):
    actor = current_actor()
    outlet = outlets.get_for_provider(actor, outlet_id)
    held = _certificates_of(outlet.id)
    form = ApplyForm()
    form.purpose.choices = [("initial", str(certification.PURPOSE_LABELS[ApplicationPurpose.INITIAL]))]
    for status, purpose in (("valid", ApplicationPurpose.SURVEILLANCE),
                            ("suspended", ApplicationPurpose.FOLLOW_UP)):
        if status in held:
            form.purpose.choices.append((purpose.value, str(certification.PURPOSE_LABELS[purpose])))
    schemes = certification_schemes.for_outlet_type(outlet.type.value)
    form.scheme_id.choices = [(s.id, f"{s.name_zh if get_locale().language == 'zh' else s.name_en} "
                                     f"({s.code} {s.version})") for s in schemes]
    bodies = certifiers.accredited(china_today())
    form.certifier_id.choices = [(org.id, f"{org.legal_name} · {a.accrediting_body} {a.number}")
                                 for org, a in bodies]
    if form.validate_on_submit():
        data = {"outlet_id": outlet.id, "purpose": form.purpose.data,
                "scheme_id": form.scheme_id.data, "certifier_id": form.certifier_id.data}
        certificate = held.get({"surveillance": "valid", "follow_up": "suspended"}.get(
            form.purpose.data, ""))
        if certificate is not None:
            data.update(certificate_id=certificate.id, scheme_id=certificate.scheme_id,
                        certifier_id=certificate.certifier_id)
        application, refused = commit_action(form, lambda: certification.apply(actor, data))
        if refused is None:
            flash(_("Application sent to %(org)s.", org=application.certifier.legal_name), "success")
            return redirect(url_for("certification.detail", application_id=application.id))
    return render_template("certification/apply.html", outlet=outlet, form=form,
                           schemes=schemes, bodies=bodies, held=held), 422 if form.errors else 200


# --- the workflow page ----------------------------------------------------------------------

def _page(application, status: int = 200, **forms):
    actor = current_actor()
    side = certification.side_of(actor, application)
    today = china_today()
    numbers = set(certification.items_for(application))
    items = [i for i in checklist.items() if i.number in numbers]
    findings = {f.item_number: f for f in application.findings}
    schedule_form = forms.get("schedule_form") or ScheduleAuditForm(prefix="schedule")
    members = db.session.execute(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == application.certifier_id).order_by(User.name)
    ).scalars().all() if side is certification.Side.CERTIFIER else []
    schedule_form.auditor_id.choices = [(u.id, f"{u.name} <{u.email}>") for u in members]
    if not schedule_form.is_submitted():
        schedule_form.audit_date.data = application.audit_date or today
        schedule_form.auditor_id.data = application.auditor_id or current_user.id
    context = {
        "application": application, "side": side.value if side else None,
        "actions": certification.actions_for(application.status, side),
        "items": items, "findings": findings, "item_title": _item_title,
        "open": certification.open_nonconformities(application.findings),
        "deadline": certification.deadline_of(application, **certification.deadline_days(current_app.config)),
        "waiting_on": certification.waiting_on(
            application.status, len(certification.unanswered_nonconformities(application.findings))),
        "standing": (certification.certifier_standing(application, today)
                     if side is certification.Side.CERTIFIER else None),
        "history": certification.history(application),
        "certificate": (db.session.get(Certificate, application.certificate_id)
                        if application.certificate_id else None),
        "files": {e.id: e for e in certification.evidence_of(application)},
        "audit_day_reached": application.audit_date is not None and today >= application.audit_date,
        "grades": [g.value for g in FindingGrade],
        "reason_form": forms.get("reason_form") or ReasonForm(prefix="reason"),
        "schedule_form": schedule_form,
        "response_forms": {n: forms.get(f"response_{n}") or CorrectiveActionForm(prefix=f"r{n}")
                           for n in findings},
        "verification_form": FindingVerificationForm(prefix="verify"),
        "action_form": ActionForm(),
        "finding_errors": forms.get("finding_errors") or {},
    }
    return render_template("certification/detail.html", **context), status


@bp.route("/certification/applications/<int:application_id>")
@login_required
def detail(application_id: int):
    return _page(certification.get_visible(current_actor(), application_id))


def _back(application_id: int, anchor: str = ""):
    return redirect(url_for("certification.detail", application_id=application_id) + anchor)


def _run(application_id: int, step, success: str, anchor: str = ""):
    _done, error = committed(step, catching=SHOWN_REFUSALS)
    if error:
        _fail(error)
    else:
        flash(success, "success")
    return _back(application_id, anchor)


@bp.route("/certification/applications/<int:application_id>/accept", methods=["POST"])
@login_required
def accept(application_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    return _run(application_id, lambda: certification.accept(current_actor(), application_id),
                _("Application accepted. Next: schedule the on-site audit."))


@bp.route("/certification/applications/<int:application_id>/complete-audit", methods=["POST"])
@login_required
def complete_audit(application_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    return _run(application_id,
                lambda: certification.complete_audit(current_actor(), application_id),
                _("Audit completed."), "#findings")


@bp.route("/certification/applications/<int:application_id>/certify", methods=["POST"])
@login_required
def certify(application_id: int):
    form = ReasonForm(prefix="reason")
    if not form.validate_on_submit():
        abort(400)
    return _run(application_id, lambda: certification.decide(
        current_actor(), application_id, "certify", form.reason.data), _("Certified."))


@bp.route("/certification/applications/<int:application_id>/<any(decline, withdraw, refuse):step>",
          methods=["POST"])
@login_required
def with_reason(application_id: int, step: str):
    actor = current_actor()
    form = ReasonForm(prefix="reason")
    if form.validate_on_submit():
        if step == "refuse":
            _done, refused = commit_action(form, lambda: certification.decide(
                actor, application_id, "refuse", form.reason.data))
        else:
            _done, refused = commit_action(form, lambda: getattr(certification, step)(
                actor, application_id, form.reason.data))
        if refused is None:
            flash({"decline": _("Application declined."), "withdraw": _("Application withdrawn."),
                   "refuse": _("Certification refused.")}[step], "success")
            return _back(application_id)
    return _page(certification.get_visible(actor, application_id), 422, reason_form=form)


@bp.route("/certification/applications/<int:application_id>/audit", methods=["POST"])
@login_required
def schedule(application_id: int):
    actor = current_actor()
    form = ScheduleAuditForm(prefix="schedule")
    form.auditor_id.choices = []
    if form.validate_on_submit():
        _done, refused = commit_action(form, lambda: certification.schedule_audit(
            actor, application_id, form.audit_date.data, form.auditor_id.data))
        if refused is None:
            flash(_("The on-site audit is scheduled."), "success")
            return _back(application_id)
    return _page(certification.get_visible(actor, application_id), 422, schedule_form=form)


def _upload(actor, application_id: int, upload, item: int | None) -> int | None:
    if upload is None or not getattr(upload, "filename", ""):
        return None
    stored = certification.attach_evidence(
        actor, application_id, upload.read(), upload.filename,
        storage_root=Path(current_app.config["UPLOAD_ROOT"]),
        max_bytes=current_app.config["EVIDENCE_MAX_BYTES"], checklist_item=item)
    return stored.id


@bp.route("/certification/applications/<int:application_id>/findings", methods=["POST"])
@login_required
def record_findings(application_id: int):
    """The audit sheet: one grade and note per item, optionally a photo; one transaction."""
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        abort(400)
    actor = current_actor()
    application = certification.get_visible(actor, application_id)

    def record():  # the photos are stored in the transaction of the findings that cite them
        entries = []
        for number in certification.items_for(application):
            grade = request.form.get(f"grade-{number}")
            if not grade:
                continue
            evidence_id = _upload(actor, application_id, request.files.get(f"file-{number}"), number)
            entries.append({"item_number": number, "grade": grade,
                            "note": request.form.get(f"note-{number}", ""),
                            "evidence_id": evidence_id})
        certification.record_findings(actor, application_id, entries)
        return entries

    entries, error = committed(record, catching=ServiceError)
    if error:
        flash(str(error.message), "error")
        nested = (error.fields or {}).get("findings")
        finding_errors = nested if isinstance(nested, dict) else {}
        return _page(certification.get_visible(actor, application_id), 422,
                     finding_errors=finding_errors)
    flash(_("Findings saved (%(n)s items).", n=len(entries)), "success")
    return _back(application_id, "#findings")


@bp.route("/certification/applications/<int:application_id>/findings/<int:item>/response",
          methods=["POST"])
@login_required
def respond(application_id: int, item: int):
    actor = current_actor()
    form = CorrectiveActionForm(prefix=f"r{item}")
    if form.validate_on_submit():
        def answer():  # the evidence is stored in the transaction of the answer that cites it
            evidence_id = _upload(actor, application_id, form.file.data, item)
            return certification.respond(actor, application_id, item, form.corrective_action.data,
                                         evidence_id)

        _done, error = committed(answer, catching=ServiceError)
        if error:
            fields = dict(error.fields or {})
            if "evidence_id" in fields:  # the page uploads the evidence itself
                fields["file"] = fields.pop("evidence_id")
            apply_errors(form, ValidationFailed(error.message, fields) if fields else error)
        else:
            flash(_("Answer sent to the certification body."), "success")
            return _back(application_id, f"#item-{item}")
    return _page(certification.get_visible(actor, application_id), 422,
                 **{f"response_{item}": form})


@bp.route("/certification/applications/<int:application_id>/findings/<int:item>/verification",
          methods=["POST"])
@login_required
def verify_finding(application_id: int, item: int):
    form = FindingVerificationForm(prefix="verify")
    if not form.validate_on_submit():
        abort(400)
    return _run(application_id, lambda: certification.verify_finding(
        current_actor(), application_id, item, form.outcome.data, form.note.data),
        _("Nonconformity closed.") if form.outcome.data == "close"
        else _("Sent back to the provider."), f"#item-{item}")


@bp.route("/certification/applications/<int:application_id>/evidence/<int:evidence_id>")
@login_required
def evidence_file(application_id: int, evidence_id: int):
    return send_evidence(certification.get_evidence(current_actor(), application_id, evidence_id))


# --- the certifier's accreditation and relationships ----------------------------------------

def _certifier():
    membership = _membership()
    if membership.organization.kind is not OrgKind.CERTIFIER:
        abort(403)
    return organizations.get_own(current_actor(), membership.organization_id)


@bp.route("/certifier/accreditation", methods=["GET", "POST"])
@login_required
def accreditation():
    organization = _certifier()
    current = certifiers.accreditation_of(organization.id)
    form = AccreditationForm(obj=current)
    if form.validate_on_submit():
        _done, refused = commit_action(form, lambda: certifiers.record_accreditation(
            current_actor(), organization, {
                "number": form.number.data, "accrediting_body": form.accrediting_body.data,
                "valid_until": form.valid_until.data}))
        if refused is None:
            flash(_("Accreditation saved; an operator will verify it."), "success")
            return redirect(url_for("certification.accreditation"))
    problem = certifiers.standing_of(organization, china_today())
    return render_template(
        "certification/accreditation.html", organization=organization, accreditation=current,
        form=form, standing=certifiers.STANDING_MESSAGES[problem] if problem else None,
        can_edit=permissions.can(current_user, "organization.edit", organization),
    ), 422 if form.errors else 200


@bp.route("/certifier/relationships", methods=["GET", "POST"])
@login_required
def relationships():
    organization = _certifier()
    actor = current_actor()
    form = RelationshipForm()
    if form.validate_on_submit():
        _done, refused = commit_action(form, lambda: certifiers.declare_relationship(
            actor, organization, {"credit_code": form.credit_code.data, "nature": form.nature.data}))
        if refused is None:
            flash(_("Relationship declared: you will not be able to audit this organization."),
                  "success")
            return redirect(url_for("certification.relationships"))
    rows = certifiers.relationships_of(actor, organization)
    names = certifiers.organizations_by_id(r.related_organization_id for r in rows)
    return render_template(
        "certification/relationships.html", organization=organization, rows=rows, names=names,
        form=form, remove_form=ActionForm(),
        can_edit=permissions.can(current_user, "organization.edit", organization),
    ), 422 if form.errors else 200


@bp.route("/certifier/relationships/<int:relationship_id>/remove", methods=["POST"])
@login_required
def remove_relationship(relationship_id: int):
    organization = _certifier()
    if not ActionForm().validate_on_submit():
        abort(400)
    _done, error = committed(lambda: certifiers.remove_relationship(current_actor(), organization,
                                                                    relationship_id),
                             # another certifier's declaration is 404, a member's removal 403
                             catching=(ValidationFailed, Conflict, AuthenticationFailed))
    if error:
        _fail(error)
    else:
        flash(_("Relationship removed."), "success")
    return redirect(url_for("certification.relationships"))


# --- operators: schemes and the accreditation queue -----------------------------------------

def _operator():
    if permissions.operator_membership(current_user) is None:
        abort(403)


@bp.route("/operator/schemes")
@login_required
def schemes():
    _operator()
    rows = [(s, certification_schemes.in_use(s)) for s in certification_schemes.all_schemes()]
    return render_template("certification/schemes.html", rows=rows)


def _scheme_form(scheme=None) -> SchemeForm:
    form = SchemeForm(obj=scheme)
    form.checklist_items.choices = [(i.number, f"{i.number}. {_item_title(i)}")
                                    for i in checklist.items()]
    if not form.is_submitted():
        if scheme is None:
            form.outlet_types.data = ["collection", "centralized_storage"]
            form.checklist_items.data = [i.number for i in checklist.items()]
        else:
            form.active.data = "1" if scheme.active else "0"
    return form


@bp.route("/operator/schemes/new", methods=["GET", "POST"])
@bp.route("/operator/schemes/<int:scheme_id>", methods=["GET", "POST"])
@login_required
def scheme_form(scheme_id: int | None = None):
    _operator()
    scheme = certification_schemes.get(scheme_id) if scheme_id is not None else None
    form = _scheme_form(scheme)
    if form.validate_on_submit():
        if scheme is None:
            _done, refused = commit_action(form, lambda: certification_schemes.create(
                current_actor(), form.scheme_data()))
        else:
            _done, refused = commit_action(form, lambda: certification_schemes.update(
                current_actor(), scheme.id, form.scheme_data()))
        if refused is None:
            flash(_("Scheme saved."), "success")
            return redirect(url_for("certification.schemes"))
    return render_template(
        "certification/scheme_form.html", form=form, scheme=scheme,
        in_use=scheme is not None and certification_schemes.in_use(scheme),
    ), 422 if form.errors else 200


@bp.route("/operator/accreditations")
@login_required
def accreditation_queue():
    _operator()
    status = request.args.get("status", "pending")
    rows = certifiers.accreditation_queue(current_actor(), status or None)
    return render_template("certification/accreditation_queue.html", rows=rows, status=status,
                           form=VerificationForm(), today=china_today())


@bp.route("/operator/accreditations/<int:organization_id>", methods=["POST"])
@login_required
def decide_accreditation(organization_id: int):
    _operator()
    form = VerificationForm()
    if not form.validate_on_submit():
        abort(400)
    _done, error = committed(lambda: certifiers.set_accreditation_verification(
        current_actor(), organization_id, form.status.data, form.reason.data), catching=ServiceError)
    if error:
        _fail(error)
    else:
        flash(_("Decision recorded."), "success")
    return redirect(url_for("certification.accreditation_queue"))
