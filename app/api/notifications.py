"""Your notifications: the in-app inbox, each message rendered in your language."""

from __future__ import annotations

import marshmallow as ma
from flask_login import current_user

from app.api.common import BEARER, Blueprint, PageQuerySchema, authenticated, page_answer, page_schema
from app.extensions import db
from services import notifications

blp = Blueprint("api_notifications", __name__, url_prefix="/api/v1/notifications",
                description="Your notifications")


class NotificationQuerySchema(PageQuerySchema):
    unread = ma.fields.Boolean(load_default=False, metadata={"description": "Only unread ones"})


class NotificationSchema(ma.Schema):
    id = ma.fields.Integer()
    event = ma.fields.String(metadata={"description": "e.g. certificate.suspended"})
    subject = ma.fields.String(metadata={"description": "In the request's language"})
    body = ma.fields.String()
    params = ma.fields.Dict()
    link = ma.fields.String(allow_none=True, metadata={"description": "Path on this site"})
    organization_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    read_at = ma.fields.AwareDateTime(allow_none=True)
    read = ma.fields.Boolean()


class NotificationPageSchema(page_schema(NotificationSchema, "NotificationItems")):
    unread_count = ma.fields.Integer()


class MarkedSchema(ma.Schema):
    marked = ma.fields.Integer(metadata={"description": "How many changed from unread to read"})
    unread_count = ma.fields.Integer()


def as_item(notification) -> dict:
    subject, body = notifications.render(notification.event, notification.params or {})
    return {"id": notification.id, "event": notification.event, "subject": subject, "body": body,
            "params": notification.params or {}, "link": notification.link,
            "organization_id": notification.organization_id,
            "created_at": notification.created_at, "read_at": notification.read_at,
            "read": notification.read_at is not None}


@blp.route("", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, NotificationPageSchema)
def list_notifications(query):
    """Newest first; `unread=true` for the unread ones only. Includes your unread count."""
    items, total = notifications.inbox(current_user, unread_only=query["unread"],
                                       page=query["page"], per_page=query["per_page"])
    return page_answer([as_item(n) for n in items], total, query,
                       unread_count=notifications.unread_count(current_user))


@blp.route("/<int:notification_id>/read", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, MarkedSchema)
@blp.alt_response(404, description="Not one of your notifications")
def mark_read(notification_id):
    """Mark one of your notifications read (again is harmless)."""
    marked = notifications.mark_read(current_user, notification_id)
    db.session.commit()
    return {"marked": marked, "unread_count": notifications.unread_count(current_user)}


@blp.route("/read-all", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, MarkedSchema)
def mark_all_read():
    """Mark all your notifications read."""
    marked = notifications.mark_read(current_user)
    db.session.commit()
    return {"marked": marked, "unread_count": 0}
