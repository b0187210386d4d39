"""Manufacturers' pages: sales and parc by city (entry, correction, upload) and obligations."""

from __future__ import annotations

import json
from datetime import date

from flask import (
    Blueprint,
    flash,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup
from wtforms import IntegerField, StringField, SubmitField
from wtforms.validators import DataRequired, NumberRange, Optional

from app.extensions import db
from app.models import OrgKind
from app.security import current_actor, current_membership
from app.transactions import committed
from app.web.forms import apply_errors, commit_action
from app.web.paging import requested_page
from app.web.pool import map_settings
from services import data_versions, obligations, sales
from services.certifiers import china_today
from services.errors import ServiceError
from services.outlet_import import ImportRejected

bp = Blueprint("obligations", __name__)
PER_PAGE = 100


class SalesEntryForm(FlaskForm):
    division = StringField(_l("City (6-digit code or name)"), validators=[DataRequired()])
    year = IntegerField(_l("Year"), validators=[DataRequired(), NumberRange(2000, 2100)])
    sales = IntegerField(_l("NEV sales"), validators=[NumberRange(min=0)])
    parc = IntegerField(_l("Parc (vehicles in use; optional)"),
                        validators=[Optional(), NumberRange(min=0)])
    submit = SubmitField(_l("Save figures"))


class SalesUploadForm(FlaskForm):
    file = FileField(_l("File (CSV or XLSX)"), validators=[FileRequired(_l("Choose a file."))])
    submit = SubmitField(_l("Upload and replace those years"))


class DeleteForm(FlaskForm):
    submit = SubmitField(_l("Delete"))


def _maker():
    membership = current_membership()
    if membership is not None and membership.organization.kind is OrgKind.MANUFACTURER:
        return membership.organization
    return sales.manufacturer_of(current_actor())


@bp.route("/sales", methods=["GET", "POST"])
@login_required
def sales_page():
    actor, maker = current_actor(), _maker()
    entry, upload = SalesEntryForm(prefix="entry"), SalesUploadForm(prefix="upload")
    rejected, result, status = None, None, 200
    if entry.submit.data and entry.validate_on_submit():
        _done, refused = commit_action(entry, lambda: sales.record_one(actor, maker, {
            "division": entry.division.data, "year": entry.year.data,
            "sales": entry.sales.data, "parc": entry.parc.data}))
        if refused is not None:
            status = 422
        else:
            flash(_("Figures saved."), "success")
            return redirect(url_for("obligations.sales_page", year=entry.year.data))
    elif upload.submit.data and upload.validate_on_submit():
        result, error = committed(lambda: sales.import_file(actor, maker, upload.file.data.read(),
                                                            upload.file.data.filename),
                                  catching=ServiceError)
        if isinstance(error, ImportRejected):
            rejected, status = error, 422
        elif error:
            apply_errors(upload, error)
            status = 422
    if entry.errors or upload.errors:
        status = 422
    # A year at a time, a page of cities at a time: the year asked for, else the latest one a
    # file just saved, else the latest there is.
    years = sales.years_of(actor, maker)
    year = request.args.get("year", type=int)
    if year not in years:
        year = max(result.years) if result and result.years else next(iter(years), None)
    page = requested_page()
    records, total = sales.list_for(actor, maker, year, page=page, per_page=PER_PAGE)
    return render_template("obligations/sales.html", maker=maker, entry=entry, upload=upload,
                           records=records, years=years, year=year, total=total, page=page,
                           per_page=PER_PAGE, rejected=rejected, result=result,
                           delete_form=DeleteForm(prefix="delete"), columns=sales.COLUMNS), status


@bp.route("/sales/<int:record_id>/delete", methods=["POST"])
@login_required
def delete_record(record_id: int):
    form = DeleteForm(prefix="delete")
    if form.validate_on_submit():
        sales.remove(current_actor(), _maker(), record_id)
        db.session.commit()
        flash(_("Figures deleted."), "success")
    return redirect(url_for("obligations.sales_page"))


def _as_of() -> tuple[date, str | None]:
    text = request.args.get("as_of", "").strip()
    if not text:
        return china_today(), None
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return china_today(), _("“%(value)s” is not a date (YYYY-MM-DD); showing today.", value=text)


STATUS_LABELS = {"covered": _l("Covered"), "collection_only": _l("Collection only (storage missing)"),
                 "uncovered": _l("Uncovered")}
TYPE_LABELS = {"collection": _l("Collection"), "centralized_storage": _l("Centralized storage")}


@bp.route("/obligations")
@login_required
def obligations_page():
    actor, maker = current_actor(), _maker()
    sales.require_view(actor, maker)
    as_of, as_of_error = _as_of()
    notices = [as_of_error] if as_of_error else []
    # The table may show the cities of one status: a national maker's gaps among 300 cities.
    status = request.args.get("status", "").strip()
    if status and status not in obligations.STATUSES:
        notices.append(_("“%(value)s” is not a status; showing every city.", value=status))
        status = ""
    report = obligations.compute_for(maker, as_of)
    language = get_locale().language
    body = data_versions.cached("obligations", ("obligations page", maker.id, as_of, status, language),
                                lambda: _report_body(report, as_of, status))
    return render_template("obligations/report.html", maker=maker, report=report, status=status,
                           notices=notices, report_body=body)


def _report_body(report, as_of: date, status: str) -> Markup:
    """The report's figures, map and table: most of the page's cost, rendered once per
    version of the obligations (and language, and status shown) for every member who opens it."""
    points = [[c.division, c.name, c.lat, c.lon, c.status, ", ".join(
        str(TYPE_LABELS.get(t, t)) for t in c.required)] for c in report.cities if c.lat is not None]
    return get_template_attribute("obligations/_report_body.html", "body")(
        report, STATUS_LABELS, TYPE_LABELS, json.dumps(points, ensure_ascii=False),
        json.dumps({k: str(v) for k, v in STATUS_LABELS.items()}, ensure_ascii=False),
        map_settings(),
        {f: url_for("api_manufacturers.export_obligations", format=f, as_of=as_of.isoformat())
         for f in ("csv", "xlsx")},
        status, {s: url_for("obligations.obligations_page", as_of=as_of.isoformat(), status=s or None)
                 for s in ("", *obligations.STATUSES)})
