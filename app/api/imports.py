"""Bulk import of outlets from CSV or XLSX, and the template files."""

from __future__ import annotations

import io

import marshmallow as ma
from flask import jsonify, request, send_file
from flask_babel import gettext as _

from app.api.common import BEARER, Blueprint, ErrorBodySchema, actor, authenticated
from app.errors import error_body
from app.extensions import db
from services import outlet_import
from services.errors import ValidationFailed

blp = Blueprint("api_imports", __name__, url_prefix="/api/v1", description="Bulk outlet import")
Int, Str = ma.fields.Integer, ma.fields.String

FORMATS = {
    "csv": ("text/csv", "outlet-import-template.csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "outlet-import-template.xlsx"),
}


class ImportFormSchema(ma.Schema):
    provider_id = Int(allow_none=True, metadata={
        "description": "Target provider organization. Operators importing the national list must "
                       "give it; providers may omit it when they belong to one provider organization."})
    dry_run = ma.fields.Boolean(load_default=False, metadata={
        "description": "Validate and count, but save nothing"})


class ImportUploadSchema(ImportFormSchema):
    """The whole multipart body, for the documentation (OpenAPI has one request body); the
    form fields are read from the form by ImportFormSchema."""

    file = ma.fields.Raw(required=True, metadata={
        "type": "string", "format": "binary",
        "description": "CSV (UTF-8 or GB18030) or XLSX in the template's column layout"})


class RowErrorSchema(ma.Schema):
    line = Int(metadata={"description": "Row number as a spreadsheet shows it (header row = its own line)"})
    column = Str(metadata={"description": "The column's header as written in the file"})
    reason = Str()


class ImportResultSchema(ma.Schema):
    provider_id = Int()
    rows = Int(metadata={"description": "Data rows in the file"})
    created = Int()
    updated = Int()
    unchanged = Int()
    file_sha256 = Str()
    dry_run = ma.fields.Boolean()
    ignored_columns = ma.fields.List(Str(), metadata={"description": "Headers not recognized"})
    warnings = ma.fields.List(ma.fields.Nested(RowErrorSchema),
                              metadata={"description": "Accepted with a caveat (e.g. unknown district)"})


class ImportRejectedSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema, metadata={
        "description": 'fields.rows lists every problem: [{"line", "column", "reason"}]'})
    errors = ma.fields.List(ma.fields.Nested(RowErrorSchema))


class TemplateQuerySchema(ma.Schema):
    format = Str(load_default="csv", validate=ma.validate.OneOf(["csv", "xlsx", "json"]),
                 metadata={"description": "csv, xlsx, or json for the column layout as data"})


@blp.route("/outlets/import", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ImportUploadSchema, location="files")
@blp.response(200, ImportResultSchema)
@blp.alt_response(422, schema=ImportRejectedSchema,
                  description="Nothing was imported; every bad row is listed")
def import_outlets(files):
    """Import outlets from the regulator's list layout: all rows or none, idempotent.

    New rows become draft outlets; a row whose key (enterprise, place, address, name) already
    exists updates that outlet only if a value changed.
    """
    upload = files["file"]
    if not hasattr(upload, "read"):
        raise ValidationFailed(_("A file is required."), {"file": [_("is required")]})
    try:
        form = ImportFormSchema().load(request.form.to_dict(), unknown=ma.EXCLUDE)
    except ma.ValidationError as error:
        raise ValidationFailed(_("Some fields need correcting."), error.messages) from error
    caller = actor()
    provider = outlet_import.target_provider(caller, form.get("provider_id"))
    try:
        result = outlet_import.import_outlets(caller, provider, upload.read(), upload.filename,
                                              dry_run=form["dry_run"])
    except outlet_import.ImportRejected as rejected:
        db.session.rollback()
        rows = [r.as_dict() for r in rejected.rows]
        body = error_body(422, rejected.message, code=rejected.code)
        body["error"]["fields"] = {"rows": rows}
        body["errors"] = rows
        return jsonify(body), 422
    if result.dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return result


@blp.route("/outlets/import-template", methods=["GET"])
@blp.arguments(TemplateQuerySchema, location="query")
@blp.response(200, description="The template file, or the column layout as JSON")
def import_template(query):
    """The import template: Chinese headers (English aliases are accepted too)."""
    kind = query["format"]
    if kind == "json":
        return jsonify({"columns": outlet_import.columns_as_data(),
                        "type_values": {"收集型": "collection", "集中贮存型": "centralized_storage"},
                        "establishment_values": {"自建": "self_built", "共建": "co_built",
                                                 "授权": "authorized"},
                        "max_rows": outlet_import.MAX_ROWS})
    content = outlet_import.template_csv() if kind == "csv" else outlet_import.template_xlsx()
    mimetype, name = FORMATS[kind]
    return send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True,
                     download_name=name, max_age=0)
