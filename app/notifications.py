"""Messages people receive, worded once for the web UI and the API alike."""

from __future__ import annotations

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from app import mail
from services.accounts import IssuedInvitation


def send_invitation(issued: IssuedInvitation, inviter_name: str) -> None:
    invitation = issued.invitation
    link = mail.external_url("auth.accept_invitation", token=issued.token)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = _("You are invited to join %(org)s on OutletPool",
                    org=invitation.organization.legal_name)
        body = _("%(inviter)s invites you to join %(org)s on OutletPool as %(role)s.\n\n"
                 "Accept within 7 days: %(link)s\n",
                 inviter=inviter_name, org=invitation.organization.legal_name,
                 role=invitation.role.value, link=link)
    mail.send(invitation.email, subject, body)


def send_password_reset(email: str, token: str) -> None:
    link = mail.external_url("auth.reset_password", token=token)
    subject = _("Reset your OutletPool password")
    body = _("Someone asked to reset the password of this account.\n\n"
             "Choose a new password within an hour: %(link)s\n\n"
             "If it was not you, ignore this message.", link=link)
    mail.send(email, subject, body)
