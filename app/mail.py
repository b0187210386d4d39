"""Outgoing mail, sent after the transaction commits.

With no MAIL_SERVER configured (development), the message is written to the log, so a
developer can copy an invitation or reset link from the console. Under TESTING, messages
are collected in `app.extensions["outbox"]` for the tests to read.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

log = logging.getLogger("outletpool.mail")


def send(to: str, subject: str, body: str) -> None:
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if config.get("TESTING"):
        current_app.extensions.setdefault("outbox", []).append(message)
        return
    if not config.get("MAIL_SERVER"):
        log.info("mail (not sent, no MAIL_SERVER) to=%s subject=%s\n%s", to, subject, body)
        return
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10) as smtp:
            if config.get("MAIL_USE_TLS"):
                smtp.starttls()
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        # The business action has committed; a lost mail must not turn it into an error.
        log.exception("could not send mail to %s", to)


def external_url(endpoint: str, **values) -> str:
    from flask import url_for

    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(endpoint, **values)
