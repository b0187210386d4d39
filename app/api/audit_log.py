"""The audit log, for operators."""

from __future__ import annotations

import marshmallow as ma

from app.api.common import BEARER, Blueprint, PageQuerySchema, actor, authenticated, page_answer, page_schema
from services import audit

blp = Blueprint("api_audit", __name__, url_prefix="/api/v1/audit-events",
                description="Append-only audit log (operators)")


class AuditEventSchema(ma.Schema):
    id = ma.fields.Integer()
    occurred_at = ma.fields.AwareDateTime()
    actor_user_id = ma.fields.Integer(allow_none=True)
    actor_label = ma.fields.String()
    organization_id = ma.fields.Integer(allow_none=True)
    action = ma.fields.String()
    subject_type = ma.fields.String()
    subject_id = ma.fields.String(allow_none=True)
    data = ma.fields.Dict()
    ip_address = ma.fields.String(allow_none=True)
    prev_hash = ma.fields.String()
    hash = ma.fields.String()


class AuditQuerySchema(PageQuerySchema):
    action = ma.fields.String(metadata={"description": "Action prefix, e.g. organization."})
    organization_id = ma.fields.Integer()


@blp.route("", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, page_schema(AuditEventSchema, "AuditEventPage"))
def list_events(query):
    items, total = audit.browse(actor(), action=query.get("action"),
                                organization_id=query.get("organization_id"),
                                page=query["page"], per_page=query["per_page"])
    return page_answer(items, total, query)
