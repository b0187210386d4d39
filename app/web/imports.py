"""Pages: bulk import of outlets from CSV or XLSX."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, SubmitField

from app.extensions import db
from app.models import OrgKind
from app.security import current_actor, current_membership
from app.web.forms import apply_errors
from services import outlet_import, permissions
from services.errors import ServiceError

bp = Blueprint("imports", __name__)


class ImportForm(FlaskForm):
    file = FileField(_l("File (CSV or XLSX)"), validators=[FileRequired(_l("Choose a file."))])
    provider_id = SelectField(_l("Provider organization the outlets belong to"), coerce=int)
    dry_run = BooleanField(_l("Only check the file; save nothing"))
    submit = SubmitField(_l("Import"))


@bp.route("/outlets/import", methods=["GET", "POST"])
@login_required
def import_outlets():
    actor = current_actor()
    is_operator = permissions.operator_membership(current_user) is not None
    membership = current_membership()
    own = membership.organization if membership else None
    if not is_operator and (own is None or own.kind is not OrgKind.PROVIDER):
        abort(403)
    form = ImportForm()
    if is_operator:
        form.provider_id.choices = outlet_import.provider_choices(actor)
    else:
        del form.provider_id
    result, rejected, status = None, None, 200
    if form.validate_on_submit():
        upload = form.file.data
        try:
            provider = outlet_import.target_provider(
                actor, form.provider_id.data if is_operator else own.id)
            result = outlet_import.import_outlets(actor, provider, upload.read(), upload.filename,
                                                  dry_run=form.dry_run.data)
        except outlet_import.ImportRejected as error:
            db.session.rollback()
            rejected, status = error, 422
        except ServiceError as error:
            db.session.rollback()
            apply_errors(form, error)
            status = 422
        else:
            if result.dry_run:
                db.session.rollback()
            else:
                db.session.commit()
    elif form.errors:
        status = 422
    return render_template("imports/import.html", form=form, result=result, rejected=rejected,
                           columns=outlet_import.COLUMNS, is_operator=is_operator,
                           organization=own), status
