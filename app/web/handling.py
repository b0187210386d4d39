"""Handled tonnes pages: one page per allocation, linked from the agreement page. The provider
records, corrects and withdraws; the maker disputes within the window; both see every record
with its state and the invoice that charged it. Views parse, call one service, commit once."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from app.security import current_actor
from app.transactions import committed
from app.web.contracts import DATE, NUMBER, show_errors
from services import handling, permissions
from services.certifiers import china_today
from services.errors import ValidationFailed

bp = Blueprint("handling", __name__, url_prefix="/billing")

STATE_LABELS = {
    "open_to_dispute": _l("Open to dispute"), "to_invoice": _l("To invoice"),
    "disputed": _l("Disputed"), "superseded": _l("Corrected"), "withdrawn": _l("Withdrawn"),
    "invoiced": _l("Invoiced"),
}


class HandlingForm(FlaskForm):
    """The service checks every value (term, future, three decimals), naming the field."""

    handled_on = StringField(_l("Date handled"), render_kw=DATE)
    tonnes = StringField(_l("Tonnes"), render_kw={**NUMBER, "step": "0.001"},
                         description=_l("More than 0, at most three decimals (kilograms)."))
    battery_codes = TextAreaField(_l("Battery codes (optional, one a line)"), render_kw={"rows": 2})
    notes = TextAreaField(_l("Notes (optional)"), render_kw={"rows": 2})
    submit = SubmitField(_l("Record handled tonnes"))

    def data_for_service(self) -> dict:
        return {"handled_on": self.handled_on.data or None, "tonnes": self.tonnes.data or None,
                "battery_codes": self.battery_codes.data, "notes": self.notes.data}


class CorrectionForm(HandlingForm):
    submit = SubmitField(_l("Save the correction"))


class DisputeForm(FlaskForm):
    reason = TextAreaField(_l("Why is this record wrong?"), render_kw={"rows": 2})
    submit = SubmitField(_l("Dispute"))


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)],
                           render_kw={"rows": 2})
    submit = SubmitField(_l("Withdraw"))


def _page(allocation_id: int, status: int = 200, **forms):
    actor = current_actor()
    allocation = handling.get_allocation(actor, allocation_id)
    records = handling.list_for_allocation(actor, allocation_id)
    agreement = allocation.agreement
    provider = permissions.membership_of(current_user, agreement.provider_id)
    maker = permissions.membership_of(current_user, allocation.manufacturer_id)
    corrections = {}
    for record in records:
        form = forms.get("correction_form") if forms.get("failed_id") == record.id else None
        if form is None:
            form = CorrectionForm(formdata=None, prefix=f"fix{record.id}")
            form.handled_on.data = record.handled_on.isoformat()
            form.tonnes.data = handling.tonnes_text(record.kilograms)
            form.battery_codes.data, form.notes.data = record.battery_codes, record.notes
        corrections[record.id] = form
    dispute_forms = {r.id: (forms["dispute_form"] if forms.get("failed_id") == r.id
                            and "dispute_form" in forms else DisputeForm(prefix=f"dispute{r.id}"))
                     for r in records}
    standing = [r for r in records if r.status.value == "recorded"]
    context = {
        "allocation": allocation, "agreement": agreement, "records": records,
        "states": {r.id: handling.state_of(r) for r in records},
        "may_record": bool(provider and permissions.can(current_user, "handling.record",
                                                        provider.organization)),
        "may_dispute": bool(maker and permissions.can(current_user, "handling.dispute",
                                                      maker.organization)),
        "form": forms.get("form") or HandlingForm(formdata=None, prefix="handling"),
        "corrections": corrections, "dispute_forms": dispute_forms,
        "withdraw_form": WithdrawForm(prefix="withdraw"),
        "failed_id": forms.get("failed_id"), "dispute_days": handling.dispute_days(),
        "standing_kg": sum(r.kilograms for r in standing),
        "disputed_kg": sum(r.kilograms for r in records if r.status.value == "disputed"),
        "last_day": allocation.ends_on - timedelta(days=1),
        "tonnes_text": handling.tonnes_text, "state_labels": STATE_LABELS, "today": china_today(),
    }
    return render_template("billing/handling.html", **context), status


def _back(allocation_id: int, record_id: int | None = None):
    anchor = f"#record-{record_id}" if record_id else ""
    return redirect(url_for("handling.page", allocation_id=allocation_id) + anchor)


@bp.get("/allocations/<int:allocation_id>/handling")
@login_required
def page(allocation_id: int):
    return _page(allocation_id)


@bp.post("/allocations/<int:allocation_id>/handling")
@login_required
def record(allocation_id: int):
    form = HandlingForm(prefix="handling")
    if form.validate_on_submit():
        _done, error = committed(
            lambda: handling.record(current_actor(), allocation_id, form.data_for_service()))
        if error:
            show_errors(form, error)
            return _page(allocation_id, error.status, form=form)
        flash(_("Recorded. The manufacturer may dispute it for %(days)s days; then it is invoiced.",
                days=handling.dispute_days()), "success")
        return _back(allocation_id)
    return _page(allocation_id, 422, form=form)


def _record_in(allocation_id: int, record_id: int):
    """The record, visible to the caller and under the allocation the URL names."""
    found = handling.get_visible(current_actor(), record_id)
    if found.allocation_id != allocation_id:
        from services.errors import NotFound

        raise NotFound("handling record", record_id)
    return found


@bp.post("/allocations/<int:allocation_id>/handling/<int:record_id>/correct")
@login_required
def correct(allocation_id: int, record_id: int):
    _record_in(allocation_id, record_id)
    form = CorrectionForm(prefix=f"fix{record_id}")
    if form.validate_on_submit():
        created, error = committed(
            lambda: handling.correct(current_actor(), record_id, form.data_for_service()))
        if error:
            show_errors(form, error)
            return _page(allocation_id, error.status, correction_form=form, failed_id=record_id)
        flash(_("Corrected: the new record replaces the old one and may be disputed again."), "success")
        return _back(allocation_id, created.id)
    return _page(allocation_id, 422, correction_form=form, failed_id=record_id)


@bp.post("/allocations/<int:allocation_id>/handling/<int:record_id>/withdraw")
@login_required
def withdraw(allocation_id: int, record_id: int):
    _record_in(allocation_id, record_id)
    form = WithdrawForm(prefix="withdraw")
    if not form.validate_on_submit():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "error")
        return _back(allocation_id, record_id)
    _done, error = committed(lambda: handling.withdraw(current_actor(), record_id, form.reason.data))
    if error:
        flash(str(error.message), "error")
    else:
        flash(_("Withdrawn: the record will not be invoiced."), "success")
    return _back(allocation_id, record_id)


@bp.post("/allocations/<int:allocation_id>/handling/<int:record_id>/dispute")
@login_required
def dispute(allocation_id: int, record_id: int):
    _record_in(allocation_id, record_id)
    form = DisputeForm(prefix=f"dispute{record_id}")
    if form.validate_on_submit():
        _done, error = committed(lambda: handling.dispute(current_actor(), record_id, form.reason.data))
        if isinstance(error, ValidationFailed):
            show_errors(form, error)
            return _page(allocation_id, error.status, dispute_form=form, failed_id=record_id)
        if error:
            flash(str(error.message), "error")
        else:
            flash(_("Disputed: the provider is told; the record is not invoiced until it is corrected "
                    "or withdrawn."), "success")
        return _back(allocation_id, record_id)
    return _page(allocation_id, 422, dispute_form=form, failed_id=record_id)
