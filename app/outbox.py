"""Sends the e-mails services queued, once their transaction has committed."""

from __future__ import annotations

from flask import Flask, current_app
from flask_babel import force_locale
from sqlalchemy import event
from sqlalchemy.orm import Session

from app import mail
from app.extensions import db
from app.models import User
from services import notifications


def _deliver(queued: list) -> None:
    for item in queued:
        user = db.session.get(User, item.user_id)
        if user is None:
            continue
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            subject, body = notifications.render(item.event, item.params)
        if item.link:
            body += "\n\n" + current_app.config["PUBLIC_BASE_URL"].rstrip("/") + item.link
        mail.send(user.email, subject, body)


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    queued = session.info.pop("outbox", None)
    if queued:
        session.info.setdefault("outbox_pending", []).extend(queued)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session, previous_transaction):
    session.info.pop("outbox", None)


def init_app(app: Flask) -> None:
    # Delivering inside after_commit would run queries on a session that is mid-commit;
    # deliver at the end of the request (or CLI command) instead.
    @app.teardown_appcontext
    def _flush_outbox(exc):
        session = db.session()
        pending = session.info.pop("outbox_pending", None)
        if pending and exc is None:
            _deliver(pending)
