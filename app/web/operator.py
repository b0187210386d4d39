"""Operator pages: the verification queue and the audit log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.security import current_actor
from app.web.forms import VerificationForm, commit_action
from app.web.paging import requested_page
from services import audit, organizations, permissions

bp = Blueprint("operator", __name__, url_prefix="/operator")
PER_PAGE = 50


@bp.before_request
@login_required
def _operators_only():
    if permissions.operator_membership(current_user) is None:
        abort(403)


@bp.route("/verifications")
def verification_queue():
    status = request.args.get("status", "pending")
    kind = request.args.get("kind") or None
    page = requested_page()
    items, total = organizations.review_queue(current_actor(), status or None, kind=kind,
                                              page=page, per_page=PER_PAGE)
    return render_template("operator/queue.html", items=items, total=total, status=status,
                           kind=kind, page=page, per_page=PER_PAGE)


@bp.route("/organizations/<int:organization_id>", methods=["GET", "POST"])
def review(organization_id: int):
    actor = current_actor()
    organization = organizations.get_visible(actor, organization_id)
    form = VerificationForm()
    if form.validate_on_submit():
        _done, refused = commit_action(form, lambda: organizations.set_verification(
            actor, organization_id, form.status.data, form.reason.data))
        if not refused:
            flash(_("Decision recorded for %(org)s.", org=organization.legal_name), "success")
            return redirect(url_for("operator.verification_queue"))
    events, _total = audit.browse(actor, organization_id=organization_id, per_page=20)
    return render_template("operator/review.html", organization=organization, form=form,
                           events=events), 422 if form.errors else 200


@bp.route("/audit")
def audit_log():
    action = request.args.get("action") or None
    organization_id = request.args.get("organization_id", type=int)
    page = requested_page()
    items, total = audit.browse(current_actor(), action=action, organization_id=organization_id,
                                page=page, per_page=PER_PAGE)
    return render_template("operator/audit.html", items=items, total=total, action=action,
                           organization_id=organization_id, page=page, per_page=PER_PAGE)
