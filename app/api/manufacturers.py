"""Manufacturers: sales and parc by city, and the obligations they trigger."""

from __future__ import annotations

import csv
import io

import marshmallow as ma
from flask import jsonify, request, send_file
from flask_babel import gettext as _

from app.api.common import BEARER, Blueprint, ErrorBodySchema, actor, authenticated
from app.errors import error_body
from app.transactions import committed
from services import data_versions, obligations, sales
from services.certifiers import china_today
from services.errors import ValidationFailed
from services.outlet_import import ImportRejected
from services.spreadsheet_safety import safe_row

blp = Blueprint("api_manufacturers", __name__, url_prefix="/api/v1/manufacturers",
                description="Manufacturers: sales, parc and obligations")
Int, Str, Float, Bool = ma.fields.Integer, ma.fields.String, ma.fields.Float, ma.fields.Boolean

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SalesRecordSchema(ma.Schema):
    division = Str(attribute="division_code", metadata={"description": "6-digit prefecture-level code"})
    year = Int()
    sales = Int()
    parc = Int(allow_none=True)
    updated_at = ma.fields.AwareDateTime()


class SalesRecordInSchema(ma.Schema):
    division = Str(required=True, metadata={
        "description": "Prefecture-level city: 6-digit division code or name"})
    year = Int(required=True)
    sales = Int(required=True)
    parc = Int(allow_none=True, metadata={"description": "Optional; estimated from sales when absent"})


class SalesPutSchema(ma.Schema):
    records = ma.fields.List(ma.fields.Nested(SalesRecordInSchema), required=True)


class SalesUploadSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={
        "type": "string", "format": "binary",
        "description": "CSV (UTF-8 or GB18030) or XLSX with the template's columns"})


class SalesListSchema(ma.Schema):
    manufacturer_id = Int()
    records = ma.fields.List(ma.fields.Nested(SalesRecordSchema))


class ReplaceResultSchema(ma.Schema):
    manufacturer_id = Int()
    years = ma.fields.List(Int(), metadata={"description": "Years whose figures were replaced"})
    records = Int()
    replaced = Int(metadata={"description": "Rows of those years that existed before"})


class RowErrorSchema(ma.Schema):
    line = Int(metadata={"description": "JSON: 1-based record position; file: spreadsheet row"})
    column = Str()
    reason = Str()


class RejectedSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema, metadata={
        "description": 'fields.rows lists every problem: [{"line", "column", "reason"}]'})


class SalesQuerySchema(ma.Schema):
    year = Int(validate=ma.validate.Range(min=2000, max=2100))


class TemplateQuerySchema(ma.Schema):
    format = Str(load_default="csv", validate=ma.validate.OneOf(["csv", "xlsx"]))


class AsOfQuerySchema(ma.Schema):
    as_of = ma.fields.Date(metadata={"description": "YYYY-MM-DD; today by default"})


class ExportQuerySchema(AsOfQuerySchema):
    format = Str(load_default="csv", validate=ma.validate.OneOf(["csv", "xlsx"]))


class CitationSchema(ma.Schema):
    outlet_type = Str()
    rule_ref = Str()
    source = Str()
    basis = Str(metadata={"description": "sales, cumulative_sales or parc"})
    comparison = Str()
    threshold = Float()
    value = Float(metadata={"description": "The figure the rule was evaluated on"})


class CitySchema(ma.Schema):
    division = Str()
    name = Str()
    province = Str(allow_none=True)
    lat = Float(allow_none=True)
    lon = Float(allow_none=True)
    year = Int(metadata={"description": "Latest year with figures, up to the as_of year"})
    required = ma.fields.List(Str(), metadata={"description": "collection, centralized_storage"})
    status = Str(metadata={"enum": list(obligations.STATUSES)})
    sales = Int()
    cumulative_sales = Int()
    parc = Int()
    parc_estimated = Bool()
    expected_tonnes = Float(metadata={"description": "Retired batteries expected in the as_of year"})
    met_by = ma.fields.List(ma.fields.Dict())
    citations = ma.fields.List(ma.fields.Nested(CitationSchema))


class RuleSetRefSchema(ma.Schema):
    code = Str()
    version = Str()


class ObligationReportSchema(ma.Schema):
    manufacturer_id = Int()
    rule_set = ma.fields.Nested(RuleSetRefSchema)
    as_of = ma.fields.Date()
    counts = ma.fields.Dict(keys=Str(), values=Int())
    share_covered = Float(allow_none=True, metadata={"description": "Share of obliged cities covered"})
    expected_tonnes = Float()
    cities = ma.fields.List(ma.fields.Nested(CitySchema))


def _records_from_json(body) -> list[tuple[int, dict]]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ValidationFailed(_("Send {\"records\": [...]} or a CSV/XLSX file."),
                               {"records": [_("must be a list of records")]})
    return list(enumerate(body["records"], start=1))


@blp.route("/me/sales", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(SalesQuerySchema, location="query")
@blp.response(200, SalesListSchema)
def list_sales(query):
    """Your organization's sales (and parc) by prefecture-level city and year."""
    caller = actor()
    maker = sales.manufacturer_of(caller)
    return {"manufacturer_id": maker.id,
            "records": sales.list_for(caller, maker, query.get("year"))[0]}


@blp.route("/me/sales", methods=["PUT"])
@authenticated
@blp.doc(security=BEARER, requestBody={"content": {
    "application/json": {"schema": SalesPutSchema},
    "multipart/form-data": {"schema": SalesUploadSchema}}})
@blp.response(200, ReplaceResultSchema)
@blp.alt_response(422, schema=RejectedSchema, description="Nothing was saved; every bad row is listed")
def put_sales():
    """Replace your figures for the years given: JSON records or a CSV/XLSX upload (`file`).

    All or nothing; years not named keep their figures. A city is a prefecture-level
    division, by 6-digit code or name; districts and provinces are refused.
    """
    caller = actor()
    maker = sales.manufacturer_of(caller)
    upload = request.files.get("file")

    def replace_figures():
        if upload is not None:
            return sales.import_file(caller, maker, upload.read(), upload.filename)
        if request.mimetype == "multipart/form-data":
            raise ValidationFailed(_("A file is required."), {"file": [_("is required")]})
        return sales.replace(caller, maker, _records_from_json(request.get_json(silent=True)))

    result, rejected = committed(replace_figures, catching=ImportRejected)
    if rejected:
        # built here rather than by the error handler, which would turn line numbers into text
        body = error_body(422, rejected.message, code=rejected.code)
        body["error"]["fields"] = {"rows": [r.as_dict() for r in rejected.rows]}
        return jsonify(body), 422
    return result


@blp.route("/me/sales/template", methods=["GET"])
@blp.arguments(TemplateQuerySchema, location="query")
@blp.response(200, description="The sales template file")
def sales_template(query):
    """The sales import template (Chinese headers; English headers are accepted too)."""
    if query["format"] == "xlsx":
        return send_file(io.BytesIO(sales.template_xlsx()), mimetype=XLSX, as_attachment=True,
                         download_name="sales-template.xlsx", max_age=0)
    return send_file(io.BytesIO(sales.template_csv()), mimetype="text/csv", as_attachment=True,
                     download_name="sales-template.csv", max_age=0)


def _readable_maker():
    caller = actor()
    maker = sales.manufacturer_of(caller)
    sales.require_view(caller, maker)
    return maker


@blp.route("/me/obligations", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(AsOfQuerySchema, location="query")
@blp.alt_response(200, schema=ObligationReportSchema, success=True, description="The report")
def get_obligations(query):
    """Your obligations per city under the rule set in force on `as_of`, and their status."""
    maker = _readable_maker()
    as_of = query.get("as_of") or china_today()
    # Kept as JSON beside the report: marshmallow's dump of its cities was a third of this
    # call, for the same answer every time until sales, contracts, outlets or rules change.
    return jsonify(data_versions.cached(
        "obligations", ("report as JSON", maker.id, as_of),
        lambda: ObligationReportSchema().dump(obligations.compute_for(maker, as_of))))


def export_file(report, kind: str):
    header = list(obligations.EXPORT_COLUMNS)
    rows = [safe_row(row) for row in obligations.export_rows(report)]
    stem = f"obligations-{report.rule_set_code}-{report.as_of.isoformat()}"
    if kind == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "obligations"
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        return send_file(io.BytesIO(buffer.getvalue()), mimetype=XLSX, as_attachment=True,
                         download_name=f"{stem}.xlsx", max_age=0)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return send_file(io.BytesIO(out.getvalue().encode("utf-8-sig")), mimetype="text/csv",
                     as_attachment=True, download_name=f"{stem}.csv", max_age=0)


@blp.route("/me/obligations/export", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ExportQuerySchema, location="query")
@blp.response(200, description="CSV or XLSX, one row per city")
def export_obligations(query):
    """Your obligations per city as CSV or XLSX."""
    report = obligations.compute_for(_readable_maker(), query.get("as_of") or china_today())
    return export_file(report, query["format"])
