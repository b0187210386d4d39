"""Pieces every API module shares: authentication, the caller, schemas for errors and pages."""

from __future__ import annotations

from functools import cache, wraps

import flask_smorest
import marshmallow as ma
from flask_login import current_user
from flask_smorest import abort
from webargs.flaskparser import FlaskParser

from app.security import current_actor
from services.audit import Actor


@cache
def _schema_instance(schema_class: type[ma.Schema]) -> ma.Schema:
    return schema_class()


class _SchemaOnceParser(FlaskParser):
    """webargs builds a new schema from a class on every request, and marshmallow deep-copies
    every field to do it: a tenth of a cheap call. A schema keeps no state between loads, so
    one instance per class serves every request."""

    def _get_schema(self, argmap, req):
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            return _schema_instance(argmap)
        return super()._get_schema(argmap, req)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint, parsing arguments with one schema instance per class."""

    ARGUMENTS_PARSER = _SchemaOnceParser()


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "Machine-readable error code"})
    message = ma.fields.String(metadata={"description": "Human-readable message"})
    fields = ma.fields.Dict(metadata={"description": "Field path -> list of messages"})


class ErrorEnvelopeSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema)


class PageQuerySchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100000))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


def page_answer(items: list, total: int, query: dict, **more) -> dict:
    """A list's answer: the page's items, the count of all, and which page this is."""
    return {"items": items, "total": total, "page": query["page"], "per_page": query["per_page"], **more}


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict({
        "items": ma.fields.List(ma.fields.Nested(item_schema)),
        "total": ma.fields.Integer(),
        "page": ma.fields.Integer(),
        "per_page": ma.fields.Integer(),
    }, name=name)


BEARER = [{"bearerAuth": []}]
# A query's administrative division (adcode), checked for its shape; services check it exists.
DIVISION_CODE = ma.validate.Regexp(r"^\d{6}$", error="must be a 6-digit division code")


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
