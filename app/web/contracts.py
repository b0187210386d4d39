"""Contracting pages: capacity requests (sent, received, all) and their negotiation, agreements
with their versions and signatures, and the maker's "request every outlet of this plan".

Views parse the form, call one service, commit once and render; the services decide who may
do what. Money is typed in yuan and turned into integer fen here (services.money, with Decimal)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from app.models import OrgKind, RequestStatus
from app.security import current_actor, current_membership
from app.transactions import committed
from app.web.forms import ActionForm
from app.web.paging import requested_page
from services import agreements, capacity_requests, coverage_plans, outlets, permissions
from services.certifiers import china_today
from services.errors import Conflict, NotFound, ServiceError, ValidationFailed
from services.money import fen_from_yuan, yuan_from_fen

bp = Blueprint("contracts", __name__, url_prefix="/contracts")

PER_PAGE = 50
NUMBER = {"type": "number", "min": "0", "step": "any", "inputmode": "decimal"}
WHOLE = {"type": "number", "min": "1", "step": "1", "inputmode": "numeric"}
MONEY = {"type": "number", "min": "0", "step": "0.01", "inputmode": "decimal"}
DATE = {"type": "date"}


# --- forms ----------------------------------------------------------------------------------

def _form_choices() -> list[tuple[str, str]]:
    return [(form.value, str(label)) for form, label in capacity_requests.FORM_LABELS.items()]


class RequestForm(FlaskForm):
    """A maker's request at an outlet's offer. The service checks every value against the
    offer, so the fields are plain text here and its messages land on them."""

    tonnes_per_year = StringField(_l("Tonnes per year"), render_kw=NUMBER)
    start_date = StringField(_l("Start date"), render_kw=DATE)
    term_months = StringField(_l("Term (months)"), render_kw=WHOLE)
    form = SelectField(_l("Form of co-operation"), choices=_form_choices, default="shared_use")
    message = TextAreaField(_l("Message to the provider (optional)"),
                            validators=[Optional(), Length(max=capacity_requests.TEXT_LIMIT)],
                            render_kw={"rows": 2})
    submit = SubmitField(_l("Send the request"))

    def terms(self, outlet_id: int) -> dict:
        return {"outlet_id": outlet_id, "tonnes_per_year": self.tonnes_per_year.data,
                "start_date": self.start_date.data, "term_months": self.term_months.data,
                "form": self.form.data, "message": self.message.data}


class CounterForm(FlaskForm):
    tonnes_per_year = StringField(_l("Tonnes per year"), render_kw=NUMBER)
    annual_fee_yuan = StringField(_l("Annual fee (CNY)"), render_kw=MONEY)
    handling_fee_yuan_per_t = StringField(_l("Handling fee per tonne (CNY)"), render_kw=MONEY)
    start_date = StringField(_l("Start date"), render_kw=DATE)
    term_months = StringField(_l("Term (months)"), render_kw=WHOLE)
    message = TextAreaField(_l("Message to the manufacturer (optional)"),
                            validators=[Optional(), Length(max=capacity_requests.TEXT_LIMIT)],
                            render_kw={"rows": 2})
    submit = SubmitField(_l("Send the counter-offer"))

    MONEY_FIELDS = {"annual_fee_yuan": "annual_fee_fen",
                    "handling_fee_yuan_per_t": "handling_fee_fen_per_t"}

    def fill(self, req) -> None:
        self.tonnes_per_year.data = f"{req.tonnes_per_year:g}"
        self.annual_fee_yuan.data = yuan_from_fen(req.annual_fee_fen)
        self.handling_fee_yuan_per_t.data = yuan_from_fen(req.handling_fee_fen_per_t)
        self.start_date.data = req.start_date.isoformat()
        self.term_months.data = str(req.term_months)

    def terms(self) -> dict:
        """The proposal with yuan turned into fen; ValidationFailed names a bad amount."""
        data = {"tonnes_per_year": self.tonnes_per_year.data, "start_date": self.start_date.data,
                "term_months": self.term_months.data, "message": self.message.data}
        errors = {}
        for name, key in self.MONEY_FIELDS.items():
            text = (getattr(self, name).data or "").strip()
            if not text:
                continue  # unchanged: the service keeps the request's value
            try:
                data[key] = fen_from_yuan(text)
            except ValueError:
                errors[name] = [_("must be an amount in yuan with at most two decimals, "
                                  "e.g. 12000 or 12000.50")]
        if errors:
            raise ValidationFailed(_("Some fields need correcting."), errors)
        return data


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=agreements.TEXT_LIMIT)],
                           render_kw={"rows": 2})
    submit = SubmitField(_l("Confirm"))


class SignForm(FlaskForm):
    password = PasswordField(_l("Your password"), render_kw={"autocomplete": "current-password"})
    document_sha256 = HiddenField()
    submit = SubmitField(_l("Sign"))


class TerminateForm(FlaskForm):
    allocation_id = SelectField(_l("What to terminate"), validate_choice=False)
    reason = TextAreaField(_l("Reason (required)"),
                           validators=[Optional(), Length(max=agreements.TEXT_LIMIT)],
                           render_kw={"rows": 2})
    submit = SubmitField(_l("Terminate today"))


class PlanRequestsForm(FlaskForm):
    start_date = StringField(_l("Start date"), render_kw=DATE)
    form = SelectField(_l("Form of co-operation"), choices=_form_choices, default="shared_use")
    submit = SubmitField(_l("Request capacity at every chosen outlet"))


def show_errors(form: FlaskForm, error: ServiceError, rename: dict | None = None) -> None:
    """The service's field messages on the form's fields; its message (and any message
    without a field here) above the form."""
    rename = rename or {}
    form.form_errors.append(str(error.message))
    for name, messages in (error.fields or {}).items():
        field = getattr(form, rename.get(name, name), None)
        texts = [str(m) for m in (messages.values() if isinstance(messages, dict) else messages)]
        if field is not None and hasattr(field, "errors") and name != "csrf_token":
            field.errors = [*field.errors, *texts]
        elif isinstance(error, ValidationFailed):
            form.form_errors.extend(texts)


# --- labels for templates -------------------------------------------------------------------

EVENT_LABELS = {
    "request": _l("Requested"), "counter": _l("Counter-offer"),
    "accept": _lp("capacity request", "Accepted"), "accept_counter": _l("Counter-offer accepted"),
    "decline": _lp("capacity request", "Declined"),
    "withdraw": _l("Withdrawn"), "cancel": _l("Cancelled by an operator"),
    "expire": _l("Expired without an answer"),
}
TERM_LABELS = {
    "tonnes_per_year": _l("Tonnes per year"), "start_date": _l("Start date"),
    "term_months": _l("Term (months)"), "annual_fee_fen": _l("Annual fee"),
    "handling_fee_fen_per_t": _l("Handling fee per tonne"), "form": _l("Form"),
}
REASON_LABELS = {
    "initial": _l("First issue"), "join": _l("A manufacturer joins"), "renewal": _l("Renewal"),
    "reissue": _l("Re-issued after a change"), "costs": _l("Cost change"),
}
ROLE_LABELS = {"provider": _l("Outlet provider"), "manufacturer": _l("Manufacturer")}


def _labels() -> dict:
    return {
        "request_labels": {s.value: v for s, v in capacity_requests.STATUS_LABELS.items()},
        "form_labels": {f.value: v for f, v in capacity_requests.FORM_LABELS.items()},
        "action_labels": capacity_requests.ACTION_LABELS, "event_labels": EVENT_LABELS,
        "term_labels": TERM_LABELS, "reason_labels": REASON_LABELS, "role_labels": ROLE_LABELS,
        "agreement_labels": {s.value: v for s, v in agreements.STATUS_LABELS.items()},
        "version_labels": {s.value: v for s, v in agreements.VERSION_LABELS.items()},
        "allocation_labels": agreements.ALLOCATION_LABELS,
    }


@bp.app_template_global()
def capacity_request_panel(outlet: dict) -> dict | None:
    """What the pool's outlet page shows a manufacturer: the request form, or the open
    request it already has there. None when the outlet offers nothing. `outlet` is the page's
    pool_search.public_detail, current as of this request."""
    membership = current_membership()
    offer = outlet["offer"]
    if membership is None or membership.organization.kind is not OrgKind.MANUFACTURER or offer is None:
        return None
    outlet_id = outlet["id"]
    open_request, held = capacity_requests.standing_at(membership.organization_id, outlet_id)
    form = RequestForm(formdata=None)
    form.term_months.data = str(offer["min_term_months"])
    form.start_date.data = max(china_today(), offer["available_from"]).isoformat()
    # The pool's available capacity is offered minus held, kept in the same transaction as
    # every allocation change (agreements.refresh_available): what capacity_left would count.
    return {"form": form, "offer": offer, "left": outlet["available_capacity_t"],
            "open_request": open_request, "held": held,
            "outlet_id": outlet_id,
            "may": bool(permissions.can(current_user, "capacity.contract", membership.organization)),
            **_labels()}


@bp.app_template_global()
def plan_requests_form() -> PlanRequestsForm:
    form = PlanRequestsForm(formdata=None, prefix="plan")
    form.start_date.data = china_today().isoformat()
    return form


def _membership():
    membership = current_membership()
    if membership is None:
        abort(403)
    return membership


def _maker():
    membership = _membership()
    if membership.organization.kind is not OrgKind.MANUFACTURER:
        abort(403)
    return membership.organization


# --- requests -------------------------------------------------------------------------------

@bp.get("/requests")
@login_required
def requests():
    actor = current_actor()
    kind = _membership().organization.kind
    operator = permissions.operator_membership(current_user) is not None
    role = None if operator else {OrgKind.MANUFACTURER: "manufacturer",
                                  OrgKind.PROVIDER: "provider"}.get(kind)
    if role is None and not operator:
        abort(403)
    status = request.args.get("status", "")
    page = requested_page()
    shown, total = capacity_requests.list_for(actor, role=role, status=status or None, page=page,
                                              per_page=PER_PAGE)
    actions = {r.id: capacity_requests.actions_for(r.status, capacity_requests.side_of(actor, r))
               for r in shown}
    # Waiting on the reader: an answer is theirs to give (withdrawing or cancelling is not).
    waiting = {r_id for r_id, steps in actions.items() if set(steps) - {"withdraw", "cancel"}}
    return render_template("contracts/requests.html", rows=shown, page=page, total=total,
                           per_page=PER_PAGE, role=role or "operator", status=status,
                           statuses=[s.value for s in RequestStatus], actions=actions, waiting=waiting,
                           action_form=ActionForm(), reason_form=ReasonForm(prefix="reason"),
                           **_labels())


@bp.route("/outlets/<int:outlet_id>/request", methods=["GET", "POST"])
@login_required
def new_request(outlet_id: int):
    actor, maker = current_actor(), _maker()
    outlet = outlets.get_public(outlet_id)
    form = RequestForm()
    status = 200
    if form.validate_on_submit():
        created, error = committed(lambda: capacity_requests.create(actor, maker, form.terms(outlet.id)))
        if error:
            show_errors(form, error)
            status = error.status
        else:
            flash(_("Request sent to %(provider)s; they answer by %(when)s.",
                    provider=created.provider.legal_name,
                    when=_local(created.respond_by)), "success")
            return redirect(url_for("contracts.request_detail", request_id=created.id))
    elif form.is_submitted():
        status = 422
    elif outlet.offer is not None:
        form.term_months.data = str(outlet.offer.min_term_months)
        form.start_date.data = max(china_today(), outlet.offer.available_from).isoformat()
    outlet = outlets.get_public(outlet_id)
    return render_template("contracts/new_request.html", outlet=outlet, form=form,
                           left=agreements.capacity_left(outlet.id), **_labels()), status


def _local(moment) -> str:
    return format_datetime(moment, "short")


def _request_page(req, status: int = 200, **forms):
    actor = current_actor()
    side = capacity_requests.side_of(actor, req)
    counter_form = forms.get("counter_form")
    if counter_form is None:
        counter_form = CounterForm(formdata=None, prefix="counter")
        counter_form.fill(req)
    allocation = capacity_requests.allocation_of(req)
    context = {
        "req": req, "side": side.value if side else None,
        "actions": capacity_requests.actions_for(req.status, side),
        "history": capacity_requests.history(req),
        "allocation": allocation, "offer": req.outlet.offer,
        "left": agreements.capacity_left(req.outlet_id),
        "counter_form": counter_form, "action_form": ActionForm(),
        "reason_form": forms.get("reason_form") or ReasonForm(prefix="reason"),
        "failed_step": forms.get("failed_step"),
        "open": req.status in capacity_requests.OPEN,
        "money_terms": {"annual_fee_fen", "handling_fee_fen_per_t"},
    }
    return render_template("contracts/request.html", **context, **_labels()), status


@bp.get("/requests/<int:request_id>")
@login_required
def request_detail(request_id: int):
    return _request_page(capacity_requests.get_visible(current_actor(), request_id))


def _back_to_request(request_id: int):
    return redirect(url_for("contracts.request_detail", request_id=request_id))


@bp.post("/requests/<int:request_id>/<any(accept, 'accept-counter'):step>")
@login_required
def accept(request_id: int, step: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    action = capacity_requests.accept if step == "accept" else capacity_requests.accept_counter
    allocation, error = committed(
        lambda: capacity_requests.allocation_of(action(current_actor(), request_id)), catching=Conflict)
    if error:
        flash(str(error.message), "error")
        return _back_to_request(request_id)
    flash(_("Accepted. Agreement %(number)s now awaits every party's signature.",
            number=allocation.agreement.number), "success")
    return redirect(url_for("contracts.agreement_detail", agreement_id=allocation.agreement_id))


@bp.post("/requests/<int:request_id>/<any(decline, withdraw, cancel):step>")
@login_required
def with_reason(request_id: int, step: str):
    actor = current_actor()
    form = ReasonForm(prefix="reason")
    if form.validate_on_submit():
        _done, error = committed(
            lambda: getattr(capacity_requests, step)(actor, request_id, form.reason.data))
        if isinstance(error, ValidationFailed):
            show_errors(form, error)
        elif error:
            flash(str(error.message), "error")
            return _back_to_request(request_id)
        else:
            flash({"decline": _("Request declined."), "withdraw": _("Request withdrawn."),
                   "cancel": _("Request cancelled.")}[step], "success")
            return _back_to_request(request_id)
    return _request_page(capacity_requests.get_visible(actor, request_id), 422,
                         reason_form=form, failed_step=step)


@bp.post("/requests/<int:request_id>/counter")
@login_required
def counter(request_id: int):
    actor = current_actor()
    form = CounterForm(prefix="counter")
    status = 422
    if form.validate_on_submit():
        _done, error = committed(lambda: capacity_requests.counter(actor, request_id, form.terms()))
        if error:
            show_errors(form, error, {v: k for k, v in CounterForm.MONEY_FIELDS.items()})
            status = error.status
        else:
            flash(_("Counter-offer sent; the manufacturer answers it next."), "success")
            return _back_to_request(request_id)
    return _request_page(capacity_requests.get_visible(actor, request_id), status,
                         counter_form=form)


# --- from a coverage plan -------------------------------------------------------------------

@bp.post("/plans/<int:plan_id>/requests")
@login_required
def from_plan(plan_id: int):
    actor, maker = current_actor(), _maker()
    plan = coverage_plans.get_for(actor, maker, plan_id)
    form = PlanRequestsForm(prefix="plan")
    refused, status = [], 422
    if form.validate_on_submit():
        made, error = committed(lambda: capacity_requests.from_plan(actor, maker, plan, {
            "start_date": form.start_date.data, "form": form.form.data}))
        if error:
            form.form_errors.append(str(error.message))
            refused = [str(m) for ms in error.fields.values() for m in ms]
            status = error.status
        else:
            flash(ngettext("%(num)s request sent.", "%(num)s requests sent.", len(made)),
                  "success")
            return redirect(url_for("contracts.requests"))
    from app.web import coverage_plans as plan_pages

    plan = coverage_plans.get_for(actor, maker, plan_id)
    return render_template("coverage_plans/detail.html", maker=maker, plan=plan,
                           others=plan_pages.others_than(actor, maker, plan),
                           plan_form=form, plan_refused=refused,
                           **plan_pages._labels()), status


# --- agreements -----------------------------------------------------------------------------

@bp.get("/agreements", endpoint="agreements")
@login_required
def agreements_page():
    status = request.args.get("status", "")
    page = requested_page()
    shown, total = agreements.list_for(current_actor(), status=status or None, page=page,
                                       per_page=PER_PAGE)
    return render_template("contracts/agreements.html", rows=shown, page=page, total=total,
                           per_page=PER_PAGE, status=status,
                           statuses=[s.value for s in agreements.AgreementStatus],
                           operator=permissions.operator_membership(current_user) is not None,
                           **_labels())


def _manages(organization_id: int) -> bool:
    """Whether the reader may sign, renew or give notice for this party (services decide)."""
    membership = permissions.membership_of(current_user, organization_id)
    return bool(membership and permissions.can(current_user, "agreements.sign",
                                               membership.organization))


def _agreement_page(agreement, status: int = 200, **forms):
    actor = current_actor()
    pending = agreements.pending_version(agreement)
    signing = agreements.signing_party(actor, pending) if pending else None
    sign_form = forms.get("sign_form") or SignForm(prefix="sign")
    if pending is not None:
        sign_form.document_sha256.data = pending.document_sha256  # the text this page shows
    today, window = china_today(), agreements.setting("AGREEMENT_RENEWAL_WINDOW_DAYS")
    held = [a for a in agreement.allocations if a.status in agreements.HOLDS_CAPACITY]
    terminate_form = forms.get("terminate_form") or TerminateForm(prefix="terminate")
    terminate_form.allocation_id.choices = [("", _("Every allocation (the whole agreement)"))] + [
        (str(a.id), f"{a.manufacturer.legal_name} · {a.tonnes_per_year:g} t") for a in held]
    signed = {s.organization_id for s in pending.signatures} if pending else set()
    context = {
        "agreement": agreement, "pending": pending, "in_force": agreements.version_in_force(agreement),
        "current": agreements.current_version(agreement),
        "parties": agreements.current_version(agreement).document["parties"],
        "missing": [p for p in pending.document["parties"] if p["id"] not in signed] if pending else [],
        "signing": signing, "may_sign": signing is not None and _manages(signing),
        "lifecycle": {a.id: agreements.lifecycle_of(a, today, window) for a in agreement.allocations},
        "manages": {a.id: _manages(a.manufacturer_id) or _manages(agreement.provider_id)
                    for a in agreement.allocations},
        "problems": {v.version: agreements.problems_of(v) for v in agreement.versions},
        "operator": permissions.operator_membership(current_user) is not None,
        "held": held, "sign_form": sign_form, "terminate_form": terminate_form,
        "notice_form": ReasonForm(prefix="notice"), "action_form": ActionForm(),
        "notice_days": agreements.setting("AGREEMENT_NOTICE_DAYS"), "window_days": window,
    }
    return render_template("contracts/agreement.html", **context, **_labels()), status


@bp.get("/agreements/<int:agreement_id>")
@login_required
def agreement_detail(agreement_id: int):
    return _agreement_page(agreements.get_visible(current_actor(), agreement_id))


@bp.get("/agreements/<int:agreement_id>/versions/<int:number>")
@login_required
def version(agreement_id: int, number: int):
    agreement = agreements.get_visible(current_actor(), agreement_id)
    shown = agreements.get_version(agreement, number)
    return render_template("contracts/version.html", agreement=agreement, version=shown,
                           document=shown.document, problems=agreements.problems_of(shown),
                           lang="zh" if get_locale().language == "zh" else "en", **_labels())


@bp.get("/agreements/<int:agreement_id>/versions/<int:number>.pdf")
@login_required
def version_pdf(agreement_id: int, number: int):
    agreement = agreements.get_visible(current_actor(), agreement_id)
    shown = agreements.get_version(agreement, number)
    lang = "en" if request.args.get("lang", "zh").startswith("en") else "zh"
    response = Response(agreements.pdf_for(agreement, shown, lang), mimetype="application/pdf")
    # attachment: browsers' built-in PDF viewers may refuse to run under our CSP (object-src)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{agreement.number}-v{shown.version}-{lang}.pdf"')
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _back_to_agreement(agreement_id: int):
    return redirect(url_for("contracts.agreement_detail", agreement_id=agreement_id))


@bp.post("/agreements/<int:agreement_id>/sign")
@login_required
def sign(agreement_id: int):
    actor = current_actor()
    form = SignForm(prefix="sign")
    if form.validate_on_submit():
        # whether this signature put the version in force, read before the commit expires it
        in_force, error = committed(lambda: agreements.sign(
            actor, agreement_id, password=form.password.data,
            document_sha256=form.document_sha256.data).version.status.value == "in_force")
        if isinstance(error, ValidationFailed):
            show_errors(form, error)
            return _agreement_page(agreements.get_visible(actor, agreement_id), 422,
                                   sign_form=form)
        if error:
            flash(str(error.message), "error")
        else:
            flash(_("Signed. Every party has signed: the agreement is in force.") if in_force
                  else _("Signed. The version comes into force when every party has signed."),
                  "success")
    return _back_to_agreement(agreement_id)


def _allocation_step(agreement_id: int, step, success):
    result, error = committed(step)
    if error:
        flash(str(error.message), "error")
    else:
        flash(success(result), "success")
    return _back_to_agreement(agreement_id)


@bp.post("/agreements/<int:agreement_id>/allocations/<int:allocation_id>/renew")
@login_required
def renew(agreement_id: int, allocation_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    _allocation_in(agreement_id, allocation_id)
    return _allocation_step(
        agreement_id, lambda: agreements.propose_renewal(current_actor(), allocation_id),
        lambda v: _("Renewal proposed: version %(n)s awaits every party's signature.",
                    n=v.version))


@bp.post("/agreements/<int:agreement_id>/allocations/<int:allocation_id>/notice")
@login_required
def give_notice(agreement_id: int, allocation_id: int):
    form = ReasonForm(prefix="notice")
    if not form.validate_on_submit():  # only a reason over the length limit gets here
        flash(" ".join(str(e) for e in form.reason.errors), "error")
        return _back_to_agreement(agreement_id)
    _allocation_in(agreement_id, allocation_id)
    return _allocation_step(
        agreement_id, lambda: agreements.give_notice(current_actor(), allocation_id,
                                                     form.reason.data),
        lambda a: _("Notice given: the allocation ends on %(day)s.", day=a.ends_on.isoformat()))


def _allocation_in(agreement_id: int, allocation_id: int) -> None:
    """The allocation must be one of this (visible) agreement's: the URL names both."""
    agreement = agreements.get_visible(current_actor(), agreement_id)
    if allocation_id not in {a.id for a in agreement.allocations}:
        raise NotFound("allocation", allocation_id)


@bp.post("/agreements/<int:agreement_id>/terminate")
@login_required
def terminate(agreement_id: int):
    actor = current_actor()
    form = TerminateForm(prefix="terminate")
    if form.validate_on_submit():
        chosen = form.allocation_id.data or ""
        allocation_id = int(chosen) if chosen.isdigit() else None
        _done, error = committed(lambda: agreements.terminate(actor, agreement_id, form.reason.data,
                                                              allocation_id=allocation_id))
        if isinstance(error, ValidationFailed):
            show_errors(form, error)
        elif error:
            flash(str(error.message), "error")
            return _back_to_agreement(agreement_id)
        else:
            flash(_("Terminated; every party has been told."), "success")
            return _back_to_agreement(agreement_id)
    return _agreement_page(agreements.get_visible(actor, agreement_id), 422,
                           terminate_form=form)
