"""Pieces every API module shares: authentication, the caller, schemas for errors and pages."""

from __future__ import annotations

from functools import wraps

import marshmallow as ma
from flask_login import current_user
from flask_smorest import abort

from app.security import current_actor
from services.audit import Actor


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "Machine-readable error code"})
    message = ma.fields.String(metadata={"description": "Human-readable message"})
    fields = ma.fields.Dict(metadata={"description": "Field path -> list of messages"})


class ErrorEnvelopeSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema)


class PageQuerySchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100000))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict({
        "items": ma.fields.List(ma.fields.Nested(item_schema)),
        "total": ma.fields.Integer(),
        "page": ma.fields.Integer(),
        "per_page": ma.fields.Integer(),
    }, name=name)


BEARER = [{"bearerAuth": []}]


def json_answer(description: str, *keys: str) -> dict:
    """Documents an answer a view builds by hand (no response schema): a JSON object that has
    at least `keys`, so the OpenAPI document does not describe it as an error."""
    schema: dict = {"type": "object"}
    if keys:
        schema["required"] = list(keys)
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def file_answer(description: str, *media_types: str) -> dict:
    """Documents a file download (PDF, ZIP, CSV, XLSX ...)."""
    return {"description": description,
            "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types}}


def authenticated(view):
    """401 with the error envelope unless a bearer token or session identifies the caller."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            abort(401, message="Authentication required: send Authorization: Bearer <token>.")
        return view(*args, **kwargs)

    return wrapper


def actor() -> Actor:
    return current_actor()
