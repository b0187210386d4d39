"""Sign-up, sign-in, sign-out, password reset, invitations."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app import notifications
from app.extensions import limiter
from app.security import client_ip, signin_limit, signin_limit_key
from app.transactions import committed
from app.web.forms import (
    AcceptInvitationForm,
    ForgotPasswordForm,
    LoginForm,
    ResetPasswordForm,
    SignupForm,
    commit_action,
)
from app.web.main import safe_next
from services import accounts
from services.errors import AuthenticationFailed, ServiceError

bp = Blueprint("auth", __name__)


def _sign_in(user) -> None:
    """A fresh session at every sign-in (against session fixation): whatever a cookie carried
    before, a CSRF token or an organization chosen, was possibly planted; only the language
    the visitor picked survives."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    login_user(user)


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        signed_up, refused = commit_action(form, lambda: accounts.signup(
            form.organization_data(), form.user_data(), ip=client_ip(), locale=str(get_locale())))
        if not refused:
            _organization, user = signed_up
            _sign_in(user)
            flash(_("Welcome! Your organization is waiting for an operator's verification; "
                    "meanwhile you can complete its profile."), "success")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/signup.html", form=form), 422 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(signin_limit, key_func=signin_limit_key, methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user, error = committed(lambda: accounts.authenticate(form.email.data, form.password.data),
                                catching=AuthenticationFailed)
        if error:
            form.form_errors.append(str(error.message))
        else:
            _sign_in(user)
            return redirect(safe_next(request.args.get("next"), url_for("main.dashboard")))
    return render_template("auth/login.html", form=form), 401 if form.form_errors else 200


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    lang = session.get("lang")
    session.clear()  # the CSRF token and organization go with the user
    if lang:
        session["lang"] = lang
    flash(_("You have signed out."), "info")
    return redirect(url_for("main.index"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(signin_limit, key_func=signin_limit_key, methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        user = accounts.find_user_by_email(form.email.data)
        if user is not None:
            token = accounts.password_reset_token(user, current_app.secret_key)
            notifications.send_password_reset(user.email, token)
        # The same answer either way: whether an address is registered is not disclosed.
        flash(_("If that address has an account, a reset link is on its way."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    form = ResetPasswordForm()
    max_age = current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"]
    try:
        accounts.user_for_reset_token(token, current_app.secret_key, max_age)
    except ServiceError as error:
        flash(str(error.message), "error")
        return redirect(url_for("auth.forgot_password"))
    if form.validate_on_submit():
        user, refused = commit_action(form, lambda: accounts.reset_password(
            token, form.password.data, secret_key=current_app.secret_key, max_age=max_age,
            ip=client_ip()))
        if not refused:
            _sign_in(user)
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/reset.html", form=form)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    invitation = accounts.pending_invitation(token)  # 404 page if expired or used
    form = AcceptInvitationForm()
    existing = accounts.find_user_by_email(invitation.email)
    if existing is not None and not current_user.is_authenticated:
        flash(_("Sign in as %(email)s to accept the invitation.", email=invitation.email), "info")
        return redirect(url_for("auth.login", next=request.path))
    if form.validate_on_submit():
        user = current_user if current_user.is_authenticated else None
        membership, refused = commit_action(form, lambda: accounts.accept_invitation(
            token, user=user, name=form.name.data or "", password=form.password.data or "",
            ip=client_ip()))
        if not refused:
            if not current_user.is_authenticated:
                _sign_in(membership.user)
            session["org_id"] = membership.organization_id
            flash(_("You have joined %(org)s.", org=invitation.organization.legal_name), "success")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/accept_invitation.html", form=form, invitation=invitation,
                           needs_account=existing is None)
