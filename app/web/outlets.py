"""Providers' pages: their outlets by status with gaps, the outlet form, self-assessment,
evidence, lifecycle actions and the capacity offer."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.api.outlets import send_evidence
from app.models import OutletStatus
from app.security import current_actor, current_membership
from app.transactions import SHOWN_REFUSALS, committed
from app.web.forms import EvidenceForm, OfferForm, OutletForm, StatusForm, commit_action
from app.web.paging import requested_page
from services import assessments, checklist, evidence, offers, organizations, outlets, permissions
from services.errors import ServiceError, ValidationFailed

bp = Blueprint("outlets", __name__, url_prefix="")
PER_PAGE = 50


def _provider():
    membership = current_membership()
    if membership is None or membership.organization.kind.value != "provider":
        abort(403)
    return organizations.get_own(current_actor(), membership.organization_id)


def _label(option: dict) -> str:
    return option["name_zh"] if get_locale().language == "zh" else option["name_en"]


def _outlet_form(obj=None) -> OutletForm:
    form = OutletForm(obj=obj)
    form.chemistries.choices = [(o["code"], _label(o)) for o in outlets.options()["chemistries"]]
    form.safety_classes.choices = [(o["code"], _label(o))
                                   for o in outlets.options()["safety_classes"]]
    if obj is not None and not form.is_submitted():
        form.type.data = obj.type.value
        form.establishment.data = obj.establishment.value
    return form


@bp.route("/outlets/mine")
@login_required
def mine():
    provider = _provider()
    filters = {k: request.args.get(k, "").strip() for k in ("status", "place", "q")}
    page = requested_page()

    def listing():
        return outlets.of_provider(current_actor(), provider, status=filters["status"],
                                   place=filters["place"], text=filters["q"], page=page,
                                   per_page=PER_PAGE)
    try:
        shown, errors = listing(), {}
    except ValidationFailed as error:  # a hand-edited link: say which filter, drop it
        errors = error.fields
        filters.update(dict.fromkeys(errors, ""))
        shown = listing()
    return render_template("outlets/mine.html", provider=provider, listing=shown, page=page,
                           per_page=PER_PAGE, filters=filters, errors=errors,
                           # what a link to another status or page keeps of the filter
                           kept={k: filters[k] for k in ("place", "q") if filters[k]},
                           reports=assessments.gap_reports(shown.items),
                           statuses=list(OutletStatus),
                           can_manage=permissions.can(current_user, "outlets.manage", provider)), \
        400 if errors else 200


@bp.route("/outlets/new", methods=["GET", "POST"])
@login_required
def create():
    provider = _provider()
    form = _outlet_form()
    if form.validate_on_submit():
        outlet, refused = commit_action(form, lambda: outlets.create(current_actor(), provider,
                                                                     form.outlet_data()))
        if not refused:
            flash(_("Outlet saved as a draft. Next: the self-assessment."), "success")
            return redirect(url_for("outlets.manage", outlet_id=outlet.id))
    return render_template("outlets/form.html", form=form, outlet=None), 422 if form.errors else 200


@bp.route("/outlets/<int:outlet_id>/edit", methods=["GET", "POST"])
@login_required
def edit(outlet_id: int):
    outlet = outlets.get_for_provider(current_actor(), outlet_id)
    form = _outlet_form(outlet)
    if form.validate_on_submit():
        _done, refused = commit_action(form, lambda: outlets.update(current_actor(), outlet,
                                                                    form.outlet_data()))
        if not refused:
            flash(_("Outlet saved."), "success")
            return redirect(url_for("outlets.manage", outlet_id=outlet.id))
    return render_template("outlets/form.html", form=form, outlet=outlet), 422 if form.errors else 200


@bp.route("/outlets/<int:outlet_id>/manage", methods=["GET", "POST"])
@login_required
def manage(outlet_id: int):
    actor = current_actor()
    outlet = outlets.get_manageable(actor, outlet_id)
    offer_form = OfferForm(prefix="offer")
    if not offer_form.is_submitted() and outlet.offer is not None:
        offer = outlet.offer
        offer_form.capacity_t_per_year.data = offer.capacity_t_per_year
        offer_form.annual_fee_yuan.data = offer.annual_fee_fen / 100
        offer_form.handling_fee_yuan_per_t.data = offer.handling_fee_fen_per_t / 100
        offer_form.min_term_months.data = offer.min_term_months
        offer_form.available_from.data = offer.available_from
        offer_form.available_to.data = offer.available_to
    if offer_form.submit.data and offer_form.validate_on_submit():
        _done, refused = commit_action(offer_form,
                                       lambda: offers.set_offer(actor, outlet, offer_form.offer_data()))
        if not refused:
            flash(_("Capacity offer saved."), "success")
            return redirect(url_for("outlets.manage", outlet_id=outlet.id))
    evidence_form = EvidenceForm(prefix="evidence")
    evidence_form.checklist_item.choices = [("", _("The outlet as a whole"))] + [
        (str(i.number), f"{i.number}. {i.title_zh if get_locale().language == 'zh' else i.title_en}")
        for i in checklist.items()]
    moves = [to for (frm, to) in outlets.TRANSITIONS if frm is outlet.status]
    return render_template(
        "outlets/manage.html", outlet=outlet, report=assessments.gap_report(outlet),
        history=assessments.history(outlet), files=evidence.of_outlet(outlet), moves=moves,
        offer_form=offer_form, evidence_form=evidence_form, status_form=StatusForm(),
    ), 422 if offer_form.errors else 200


@bp.route("/outlets/<int:outlet_id>/status", methods=["POST"])
@login_required
def change_status(outlet_id: int):
    form = StatusForm()
    if form.validate_on_submit():
        actor = current_actor()
        _done, error = committed(lambda: outlets.change_status(
            actor, outlets.get_manageable(actor, outlet_id), form.status.data, form.reason.data),
            catching=SHOWN_REFUSALS)
        if error:
            flash(str(error.message), "error")
        else:
            flash(_("Status changed."), "success")
    return redirect(url_for("outlets.manage", outlet_id=outlet_id))


@bp.route("/outlets/<int:outlet_id>/evidence", methods=["POST"])
@login_required
def upload_evidence(outlet_id: int):
    actor = current_actor()
    outlet = outlets.get_for_provider(actor, outlet_id)
    form = EvidenceForm(prefix="evidence")
    form.checklist_item.choices = []
    if form.validate_on_submit():
        upload = form.file.data
        item = form.checklist_item.data
        _done, error = committed(lambda: evidence.add(
            actor, outlet, upload.read(), upload.filename,
            storage_root=Path(current_app.config["UPLOAD_ROOT"]),
            max_bytes=current_app.config["EVIDENCE_MAX_BYTES"],
            checklist_item=int(item) if item else None), catching=ServiceError)
        if error:
            messages = [str(m) for ms in error.fields.values() for m in ms] or [str(error.message)]
            flash("; ".join(messages), "error")
        else:
            flash(_("Evidence uploaded."), "success")
    else:
        flash(_("Choose a file to upload."), "error")
    return redirect(url_for("outlets.manage", outlet_id=outlet_id) + "#evidence")


@bp.route("/evidence/<int:evidence_id>")
@login_required
def download_evidence(evidence_id: int):
    return send_evidence(evidence.get_visible(current_actor(), evidence_id))


@bp.route("/outlets/<int:outlet_id>/assessment", methods=["GET", "POST"])
@login_required
def assessment(outlet_id: int):
    actor = current_actor()
    outlet = outlets.get_for_provider(actor, outlet_id)
    items = checklist.items()
    current = assessments.latest(outlet)
    answers = dict(current.answers) if current else {}
    error_fields: dict = {}
    if request.method == "POST":
        from flask_wtf.csrf import validate_csrf
        from wtforms import ValidationError

        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            abort(400)
        submitted = {str(i.number): {"result": request.form.get(f"result-{i.number}"),
                                     "note": request.form.get(f"note-{i.number}", "")}
                     for i in items if request.form.get(f"result-{i.number}")}
        complete = request.form.get("action") == "complete"
        saved, error = committed(lambda: assessments.save(actor, outlet, submitted, complete=complete),
                                 catching=ServiceError)
        if error:
            answers.update(submitted)
            error_fields = (error.fields or {}).get("answers", {})
            flash(str(error.message), "error")
        else:
            if complete:
                flash(_("Assessment completed: %(result)s.",
                        result=_("compliant") if saved.passed else _("not compliant yet")),
                      "success" if saved.passed else "info")
            else:
                flash(_("Draft saved."), "success")
            return redirect(url_for("outlets.manage", outlet_id=outlet.id))
    files = {}
    for item in evidence.of_outlet(outlet):
        files.setdefault(item.checklist_item, []).append(item)
    return render_template("outlets/assessment.html", outlet=outlet, items=items,
                           categories=checklist.categories(), answers=answers, files=files,
                           current=current, error_fields=error_fields), 422 if error_fields else 200
