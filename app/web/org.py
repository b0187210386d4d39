"""The signed-in user's organization: profile, members, invitations; personal API tokens."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import notifications
from app.extensions import db
from app.security import current_actor, current_membership
from app.transactions import committed
from app.web.forms import (
    ActionForm,
    InviteForm,
    ProfileForm,
    RoleForm,
    TokenForm,
    apply_errors,
    commit_action,
)
from services import accounts, organizations, permissions
from services.errors import ServiceError

bp = Blueprint("org", __name__, url_prefix="/organization")


def _own_organization():
    membership = current_membership()
    if membership is None:
        abort(404)
    return organizations.get_own(current_actor(), membership.organization_id)


@bp.route("", methods=["GET", "POST"])
@login_required
def profile():
    organization = _own_organization()
    form = ProfileForm(obj=organization)
    if not form.is_submitted() and organization.provider_type:
        form.provider_type.data = organization.provider_type.value
    if form.validate_on_submit():
        _done, refused = commit_action(form, lambda: organizations.update_profile(
            current_actor(), organization, form.data_for(organization.kind.value)))
        if not refused:
            flash(_("Profile saved."), "success")
            return redirect(url_for("org.profile"))
    editable = permissions.can(current_user, "organization.edit", organization)
    return render_template("org/profile.html", organization=organization, form=form,
                           editable=editable), 422 if form.errors else 200


@bp.route("/members", methods=["GET", "POST"])
@login_required
def members():
    organization = _own_organization()
    actor = current_actor()
    form = InviteForm()
    if form.validate_on_submit():
        issued, refused = commit_action(form, lambda: accounts.invite(
            actor, organization, form.email.data, form.role.data))
        if not refused:
            notifications.send_invitation(issued, current_user.name)
            flash(_("Invitation sent to %(email)s.", email=issued.invitation.email), "success")
            return redirect(url_for("org.members"))
    can_invite = permissions.can(current_user, "members.invite", organization)
    return render_template(
        "org/members.html", organization=organization, form=form,
        members=accounts.members_of(actor, organization),
        invitations=accounts.pending_invitations(organization) if can_invite else [],
        can_invite=can_invite,
        can_change_role=permissions.can(current_user, "members.change_role", organization),
        can_remove=permissions.can(current_user, "members.remove", organization),
        role_form=RoleForm(), action_form=ActionForm(),
    ), 422 if form.errors else 200


@bp.route("/members/<int:membership_id>/role", methods=["POST"])
@login_required
def change_role(membership_id: int):
    organization = _own_organization()
    form = RoleForm()
    if form.validate_on_submit():
        accounts.change_role(current_actor(), organization, membership_id, form.role.data)
        db.session.commit()
        flash(_("Role changed."), "success")
    return redirect(url_for("org.members"))


@bp.route("/members/<int:membership_id>/remove", methods=["POST"])
@login_required
def remove_member(membership_id: int):
    organization = _own_organization()
    if ActionForm().validate_on_submit():
        accounts.remove_member(current_actor(), organization, membership_id)
        db.session.commit()
        flash(_("Member removed."), "success")
    return redirect(url_for("org.members"))


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        def create_token():  # the password again first: a token acts as its user
            accounts.confirm_password(current_user, form.password.data)
            _token, secret = accounts.create_token(current_user, form.name.data, ip=current_actor().ip)
            return secret

        new_token, error = committed(create_token, catching=ServiceError)
        if error:
            apply_errors(form, error)
    return render_template("org/tokens.html", form=form, new_token=new_token,
                           tokens=accounts.tokens_of(current_user), action_form=ActionForm())


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    if ActionForm().validate_on_submit():
        accounts.revoke_token(current_user, token_id, ip=current_actor().ip)
        db.session.commit()
        flash(_("Token revoked."), "success")
    return redirect(url_for("org.tokens"))
