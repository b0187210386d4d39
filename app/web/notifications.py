"""Pages: the notification inbox, in the reader's language; and the unread count for the nav."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.web.main import safe_next
from app.web.paging import requested_page
from services import notifications

bp = Blueprint("notifications", __name__)
PER_PAGE = 50


def as_row(notification) -> dict:
    subject, body = notifications.render(notification.event, notification.params or {})
    return {"id": notification.id, "event": notification.event, "subject": subject, "body": body,
            "link": notification.link, "created_at": notification.created_at,
            "read": notification.read_at is not None}


def inject_unread_notifications() -> dict:
    """Context processor: `unread_notifications()` in any template, queried only when called."""

    def unread_notifications() -> int:
        if not current_user.is_authenticated:
            return 0
        loaded = current_user.unread_notifications  # with the user, when it was signed in
        return notifications.unread_count(current_user) if loaded is None else loaded

    return {"unread_notifications": unread_notifications}


@bp.route("/notifications")
@login_required
def inbox():
    unread_only = request.args.get("unread") in ("1", "true", "on")
    page = requested_page()
    items, total = notifications.inbox(current_user, unread_only=unread_only, page=page,
                                       per_page=PER_PAGE)
    # Newest first, the unread ones of the page ahead of the read ones (stable sort).
    rows = sorted((as_row(n) for n in items), key=lambda row: row["read"])
    return render_template("notifications/inbox.html", items=rows, total=total, page=page,
                           per_page=PER_PAGE, unread_only=unread_only,
                           unread=notifications.unread_count(current_user))


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id: int):
    """Mark one read; then go where `next` says (the notification's link, or back)."""
    notifications.mark_read(current_user, notification_id)
    db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("notifications.inbox")))


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def read_all():
    notifications.mark_read(current_user)
    db.session.commit()
    return redirect(url_for("notifications.inbox"))
