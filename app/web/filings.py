"""Filing pages: a maker's filing (versions, changes due, generate, submit, download), joint
filings to confirm (makers and providers), the operator's run over every maker, and the public
disclosure list."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from app.api.filings import file_response
from app.extensions import db
from app.models import FilingStatus
from app.security import current_actor
from app.web.forms import commit_action
from services import filing_runs, filings, joint_filings, permissions
from services.certifiers import china_today

bp = Blueprint("filings", __name__)


class GenerateForm(FlaskForm):
    as_of = DateField(_l("Data as of"), validators=[Optional()])
    submit = SubmitField(_l("Generate a new version"))


class SubmissionForm(FlaskForm):
    submitted_on = DateField(_l("Submitted on"), validators=[DataRequired()])
    reference = StringField(_l("Submission reference"), validators=[DataRequired(), Length(max=100)])
    submit = SubmitField(_l("Mark as submitted"))


class ConfirmForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired()])
    document_sha256 = HiddenField()
    submit = SubmitField(_l("Confirm this joint filing"))


class RunForm(FlaskForm):
    as_of = DateField(_l("Data as of"), validators=[Optional()])
    submit = SubmitField(_l("Generate every maker's filing"))


REASONS = filings.REASON_LABELS


@bp.app_template_global()
def china_time(moment) -> str:
    """A stored UTC time as Beijing time, the way filings are dated."""
    from services.certifiers import CHINA

    return "" if moment is None else moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


@bp.route("/filings", methods=["GET", "POST"])
@login_required
def index():
    actor = current_actor()
    maker = filings.manufacturer_of(actor)
    form, status = GenerateForm(), 200
    if form.validate_on_submit():
        filing, refused = commit_action(form, lambda: filings.generate(actor, maker, form.as_of.data))
        if refused:
            status = refused
        else:
            flash(_("Version %(version)s generated.", version=filing.version), "success")
            return redirect(url_for("filings.detail", filing_id=filing.id))
    elif form.errors:
        status = 422
    today = china_today()
    return render_template(
        "filings/index.html", maker=maker, form=form, versions=filings.list_for(
            actor, manufacturer_id=maker.id), due=filings.open_due(actor, maker),
        pending=filings.pending_changes(maker, today), today=today,
        awaiting=len(joint_filings.list_for(actor, awaiting_only=True))), status


@bp.route("/filings/<int:filing_id>", methods=["GET", "POST"])
@login_required
def detail(filing_id: int):
    actor = current_actor()
    filing = filings.get_visible(actor, filing_id)
    form, status = SubmissionForm(), 200
    if filing.status is FilingStatus.GENERATED and form.validate_on_submit():
        _done, refused = commit_action(form, lambda: filings.mark_submitted(
            actor, filing.id, submitted_on=form.submitted_on.data, reference=form.reference.data))
        if refused:
            status = refused
        else:
            flash(_("Version %(version)s marked as submitted.", version=filing.version), "success")
            return redirect(url_for("filings.detail", filing_id=filing.id))
    elif form.errors:
        status = 422
    return render_template("filings/detail.html", filing=filing, snapshot=filing.snapshot,
                           changes=filings.change_filing(actor, filing.id), form=form,
                           reasons=REASONS, today=china_today(),
                           is_operator=permissions.is_operator(actor)), status


@bp.get("/filings/<int:filing_id>/download/<fmt>")
@login_required
def download(filing_id: int, fmt: str):
    if fmt not in filings.FORMATS:
        abort(404)
    file = filings.file_of(current_actor(), filing_id, fmt)
    return file_response(file.content, file.content_type, file.filename, file.sha256)


@bp.get("/filings/joint")
@login_required
def joint_index():
    actor = current_actor()
    items = joint_filings.list_for(actor)
    return render_template("filings/joint_index.html",
                           awaiting=[i for i in items if i["awaiting_my_confirmation"]],
                           others=[i for i in items if not i["awaiting_my_confirmation"]])


@bp.route("/filings/joint/<int:joint_id>", methods=["GET", "POST"])
@login_required
def joint_detail(joint_id: int):
    actor = current_actor()
    joint = joint_filings.get_visible(actor, joint_id)
    form, status = ConfirmForm(), 200
    if form.validate_on_submit():
        _done, refused = commit_action(form, lambda: joint_filings.confirm(
            actor, joint.id, password=form.password.data,
            document_sha256=form.document_sha256.data))
        if refused:
            status = refused
        else:
            flash(_("Joint filing confirmed."), "success")
            return redirect(url_for("filings.joint_detail", joint_id=joint_id))
    elif form.errors:
        status = 422
    joint = joint_filings.get_visible(actor, joint_id)
    form.document_sha256.data = joint.document_sha256
    return render_template("filings/joint_detail.html", joint=joint_filings.view(
        joint, pending_for=joint_filings.pending_party(actor, joint)), form=form), status


@bp.route("/operator/filings", methods=["GET", "POST"])
@login_required
def operator_runs():
    actor = current_actor()
    runs = filing_runs.list_runs(actor)
    form, status = RunForm(), 200
    if form.validate_on_submit():
        background = bool(current_app.config.get("REDIS_URL"))
        run, refused = commit_action(form, lambda: filing_runs.start(
            actor, form.as_of.data, mode="queue" if background else "inline"))
        if refused:
            status = refused
        else:
            if background:
                filing_runs.run_in_background(current_app._get_current_object(), run.id)
            else:
                filing_runs.execute(run.id, db.session.commit)
            return redirect(url_for("filings.operator_run", run_id=run.id))
    return render_template("filings/operator.html", runs=runs, form=form), status


@bp.get("/operator/filings/<int:run_id>")
@login_required
def operator_run(run_id: int):
    actor = current_actor()
    run = filing_runs.get(actor, run_id)
    return render_template("filings/run.html", run=run, versions=filings.list_for(actor, run_id=run.id))


@bp.get("/operator/filings/<int:run_id>/archive")
@login_required
def operator_archive(run_id: int):
    actor = current_actor()
    run = filing_runs.get(actor, run_id)
    content = filings.archive(filings.list_for(actor, run_id=run.id))
    return file_response(content, "application/zip", f"outlet-filings-run{run.id}-{run.as_of}.zip")


@bp.get("/disclosure/outlets.<fmt>")
def public_list(fmt: str):
    from services.filing_documents import FORMATS

    if fmt not in ("csv", "xlsx"):
        abort(404)
    return file_response(filings.public_list(fmt), FORMATS[fmt], f"outlet-public-list.{fmt}")
